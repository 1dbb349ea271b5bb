package mysql

import "adnet/models"

// ReportStatement is one SQL statement of a report, exported for the EXPLAIN tests.
type ReportStatement struct {
	Query string
	Args  []any
}

// ReportStatements returns the statements Report runs for q.
func ReportStatements(q models.ReportQuery) ([]ReportStatement, error) {
	stmts, _, err := reportStatements(&q)
	if err != nil {
		return nil, err
	}
	out := make([]ReportStatement, len(stmts))
	for i, s := range stmts {
		out[i] = ReportStatement{Query: s.query, Args: s.args}
	}
	return out, nil
}
