package mysql

// ReportStatement is one SQL statement of a report, exported for the EXPLAIN tests.
type ReportStatement struct {
	Query string
	Args  []any
}

// ReportStatements returns the statements Report runs for q.
func ReportStatements(q ReportQuery) ([]ReportStatement, error) {
	stmts, _, err := q.statements()
	if err != nil {
		return nil, err
	}
	out := make([]ReportStatement, len(stmts))
	for i, s := range stmts {
		out[i] = ReportStatement{Query: s.query, Args: s.args}
	}
	return out, nil
}
