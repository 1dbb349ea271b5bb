//go:build fraudeval

package main

// Reading the fraud evaluation's outcome back from MariaDB (see fraudeval_test.go).

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"adnet/internal/fraud/evalmix"
	"adnet/models"
	"adnet/models/mysql"
)

// waitForDrain waits until the statistics hold every answered request exactly: the aggregator
// has committed every event the workers recorded.
func waitForDrain(t *testing.T, tp *topology, raw *sql.DB, start time.Time, l *evalmix.Ledger) {
	t.Helper()
	want := [4]int64{l.Answered["serve"], l.Answered["impression"], l.Answered["click"], l.Answered["conversion"]}
	var got [4]int64
	deadline := time.Now().Add(2 * time.Minute)
	for {
		err := raw.QueryRow(`SELECT COALESCE(SUM(requests), 0), COALESCE(SUM(impressions + invalid_impressions), 0),
			COALESCE(SUM(clicks + invalid_clicks), 0), COALESCE(SUM(conversions + invalid_conversions), 0)
			FROM stats_hourly WHERE hour >= ?`, start.Truncate(time.Hour)).Scan(&got[0], &got[1], &got[2], &got[3])
		if err == nil && got == want {
			t.Logf("statistics hold every answered request: serves, impressions, clicks, conversions = %v", got)
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the statistics do not account for the answered requests: recorded %v, answered %v (%v); master output:\n%s",
				got, want, err, tp.out.String())
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// confirmFlags plays the operator who reviews the scan's flags and confirms every zone flag
// (`adnet fraud confirm ID`), which restates the zone's billed events of the flag's period
// through the adjustment ledger. The evaluation cannot judge a flag as a person would:
// confirming every zone flag is the operator trusting the monitor (a wrong one shows as
// people's events restated: false positives). Publisher flags are left open for a person to
// investigate: confirming one restates every zone of the publisher, its people's traffic
// included — a claw-back decision about a publisher, not a verdict on traffic (confirming
// them too made 1.5% of people's events "invalid" in a run of this evaluation).
func confirmFlags(ctx context.Context, t *testing.T, tp *topology, raw *sql.DB, start time.Time) {
	t.Helper()
	var ids []int64
	var left int
	rows, err := raw.Query(`SELECT id, entity_kind FROM fraud_flags WHERE status = 'open' AND created_at >= ? ORDER BY id`, start.Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id int64
		var kind string
		if err := rows.Scan(&id, &kind); err != nil {
			t.Fatal(err)
		}
		if kind != "zone" {
			left++
			continue
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		var out, errOut bytes.Buffer
		if err := runFraud(ctx, []string{"confirm", "--config", tp.conf, strconv.FormatInt(id, 10)}, &out, &errOut); err != nil {
			t.Fatalf("adnet fraud confirm %d: %v\n%s", id, err, errOut.String())
		}
		t.Logf("adnet fraud confirm %d: %s", id, strings.TrimSpace(out.String()))
	}
	t.Logf("the operator confirmed the scan's %d zone flags and left %d publisher flags for review", len(ids), left)
}

// observe reads every verdict back from MariaDB.
func observe(t *testing.T, raw *sql.DB, start time.Time) *evalmix.Observed {
	t.Helper()
	obs := &evalmix.Observed{Counts: map[evalmix.Bucket]map[models.Reason]int64{},
		Clicks: map[models.ImpressionID][]models.Reason{}, Conversions: map[models.ImpressionID][]models.Reason{},
		FlaggedZones: map[int64][]string{}}
	add := func(zone int64, typ models.EventType, r models.Reason, n int64) {
		b := evalmix.Bucket{ZoneID: zone, Type: typ}
		if obs.Counts[b] == nil {
			obs.Counts[b] = map[models.Reason]int64{}
		}
		obs.Counts[b][r] += n
	}
	hour := start.Truncate(time.Hour)
	query := func(q string, args []any, scan func(*sql.Rows) error) {
		t.Helper()
		rows, err := raw.Query(q, args...)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		for rows.Next() {
			if err := scan(rows); err != nil {
				t.Fatal(err)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
	}
	// Impressions of every zone, and the clicks of forged tokens (zone 0), which have no rows.
	query(`SELECT zone_id, SUM(impressions), SUM(CASE WHEN zone_id = 0 THEN clicks ELSE 0 END)
		FROM stats_hourly WHERE hour >= ? GROUP BY zone_id`, []any{hour}, func(r *sql.Rows) error {
		var zone, imps, clicks int64
		if err := r.Scan(&zone, &imps, &clicks); err != nil {
			return err
		}
		if imps > 0 {
			add(zone, models.EventImpression, models.ReasonValid, imps)
		}
		if clicks > 0 {
			add(zone, models.EventClick, models.ReasonValid, clicks)
		}
		return nil
	})
	query(`SELECT zone_id, event_type, reason, SUM(count) FROM stats_invalid_hourly
		WHERE hour >= ? AND (event_type = ? OR (event_type = ? AND zone_id = 0)) GROUP BY zone_id, event_type, reason`,
		[]any{hour, models.EventImpression, models.EventClick}, func(r *sql.Rows) error {
			var zone, n int64
			var typ, reason uint8
			if err := r.Scan(&zone, &typ, &reason, &n); err != nil {
				return err
			}
			add(zone, models.EventType(typ), models.Reason(reason), n)
			return nil
		})
	verdict := func(valid bool, reason uint8) models.Reason {
		if valid {
			return models.ReasonValid
		}
		return models.Reason(reason)
	}
	query(`SELECT impression_id, valid, reason FROM clicks WHERE time >= ? ORDER BY impression_id, time, seq`,
		[]any{start.Add(-time.Minute)}, func(r *sql.Rows) error {
			var id []byte
			var valid bool
			var reason uint8
			if err := r.Scan(&id, &valid, &reason); err != nil {
				return err
			}
			k := models.ImpressionID(id)
			obs.Clicks[k] = append(obs.Clicks[k], verdict(valid, reason))
			return nil
		})
	query(`SELECT impression_id, status, reason FROM conversions WHERE time >= ? ORDER BY impression_id, time, id`,
		[]any{start.Add(-time.Minute)}, func(r *sql.Rows) error {
			var id []byte
			var status string
			var reason uint8
			if err := r.Scan(&id, &status, &reason); err != nil {
				return err
			}
			k := models.ImpressionID(id)
			obs.Conversions[k] = append(obs.Conversions[k], verdict(status == "approved", reason))
			return nil
		})
	// The ledger's restatements of the confirmed flags: valid count deltas (negative) per zone.
	obs.Restated = map[evalmix.Bucket]int64{}
	query(`SELECT zone_id, SUM(impressions), SUM(clicks), SUM(conversions) FROM adjustments WHERE hour >= ? GROUP BY zone_id`,
		[]any{hour}, func(r *sql.Rows) error {
			var zone, imps, clicks, convs int64
			if err := r.Scan(&zone, &imps, &clicks, &convs); err != nil {
				return err
			}
			for typ, n := range map[models.EventType]int64{models.EventImpression: imps, models.EventClick: clicks, models.EventConversion: convs} {
				if n < 0 {
					obs.Restated[evalmix.Bucket{ZoneID: zone, Type: typ}] = -n
				}
			}
			return nil
		})
	query(`SELECT entity_id, metric FROM fraud_flags WHERE entity_kind = 'zone' AND created_at >= ? ORDER BY entity_id, metric`,
		[]any{start.Add(-time.Minute)}, func(r *sql.Rows) error {
			var zone int64
			var metric string
			if err := r.Scan(&zone, &metric); err != nil {
				return err
			}
			obs.FlaggedZones[zone] = append(obs.FlaggedZones[zone], metric)
			return nil
		})
	return obs
}

// describeFlags lists the flagged zones with the category whose zone it is.
func describeFlags(flagged map[int64][]string, n evalNetwork) string {
	cat := map[int64]string{}
	for c, z := range n.attackZones {
		cat[z] = string(c)
	}
	var parts []string
	for z, ms := range flagged {
		who := cat[z]
		if who == "" {
			who = "people's"
		}
		parts = append(parts, fmt.Sprintf("zone %d (%s): %s", z, who, strings.Join(ms, ", ")))
	}
	var unflagged []string
	for c, z := range n.attackZones {
		if len(flagged[z]) == 0 {
			unflagged = append(unflagged, string(c))
		}
	}
	return fmt.Sprintf("%s; attack zones not flagged: %s", strings.Join(parts, "; "), strings.Join(unflagged, ", "))
}

// checkAutoPause checks that fraud.auto_pause paused every flagged zone and that the workers
// stopped serving them (their next inventory snapshot leaves them out: /serve/json has no ad).
func checkAutoPause(t *testing.T, tp *topology, store *mysql.Store, flagged map[int64][]string) {
	t.Helper()
	for z := range flagged {
		zone, err := store.GetZone(context.Background(), z)
		if err != nil {
			t.Fatal(err)
		}
		if zone.Status != models.StatusPaused {
			t.Errorf("flagged zone %d is %s; fraud.auto_pause should have paused it", z, zone.Status)
			continue
		}
		tp.waitFor(fmt.Sprintf("paused zone %d to stop serving", z), func() bool {
			code, _, err := tp.get(fmt.Sprintf("/serve/json?zone=%d", z))
			return err == nil && code == http.StatusNoContent
		})
	}
	if len(flagged) > 0 {
		t.Logf("auto-pause: %d flagged zones paused; the workers no longer serve them", len(flagged))
	}
}
