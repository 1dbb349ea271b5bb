package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"adnet/models"
	"adnet/models/mysql"
)

// TestReportCommand runs `adnet report` against a real database in the three formats.
func TestReportCommand(t *testing.T) {
	ctx := context.Background()
	conf, db := commandDB(t, `timezone = "Europe/Paris"`)
	// 2025-01-14 22:00 UTC is 23:00 on Jan 14 in Paris; 23:00 UTC is already Jan 15 there.
	h1, h2 := time.Date(2025, 1, 14, 22, 0, 0, 0, time.UTC), time.Date(2025, 1, 14, 23, 0, 0, 0, time.UTC)
	d1, d2 := time.Date(2025, 1, 14, 0, 0, 0, 0, time.UTC), time.Date(2025, 1, 15, 0, 0, 0, 0, time.UTC)
	err := mysql.NewStore(db).FlushBatch(ctx, &models.Batch{
		Stats: []models.StatsDelta{
			{Hour: h1, Day: d1, ZoneID: 3, PublisherID: 9, CampaignID: 4, AdvertiserID: 8, Requests: 10, Served: 9, Impressions: 8,
				Clicks: 2, InvalidClicks: 1, SpendNanos: 9_876_543_210, RevenueNanos: 6_913_580_247},
			{Hour: h2, Day: d2, ZoneID: 3, PublisherID: 9, CampaignID: 4, AdvertiserID: 8, Requests: 5, Served: 5, Impressions: 5},
		},
		Invalid: []models.InvalidDelta{{Hour: h1, Day: d1, ZoneID: 3, PublisherID: 9, CampaignID: 4, AdvertiserID: 8,
			EventType: models.EventClick, Reason: models.ReasonFastClick, Count: 1}},
	})
	if err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		var out, errOut bytes.Buffer
		if err := runReport(ctx, append([]string{"--config", conf}, args...), &out, &errOut); err != nil {
			t.Fatalf("adnet report %v: %v\n%s", args, err, errOut.String())
		}
		return out.String()
	}

	table := run("--from", "2025-01-14", "--to", "2025-01-15", "--group-by", "day")
	for _, want := range []string{"adnet report 2025-01-14 00:00 – 2025-01-16 00:00 (Europe/Paris)",
		"2025-01-14", "2025-01-15", "9.876543", "fast_click=1", "total"} {
		if !strings.Contains(table, want) {
			t.Errorf("table lacks %q:\n%s", want, table)
		}
	}

	csv := run("--from", "2025-01-14", "--to", "2025-01-15", "--group-by", "day", "--format", "csv")
	lines := strings.Split(strings.TrimSpace(csv), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "day,requests,served,") ||
		!strings.HasPrefix(lines[1], "2025-01-14,10,9,8,2,0,0,1,0,9876543,6913580,") ||
		!strings.HasPrefix(lines[2], "2025-01-15,5,5,5,0,") || !strings.HasPrefix(lines[3], "total,15,14,13,2,") {
		t.Errorf("CSV:\n%s", csv)
	}

	var rep struct {
		Timezone string `json:"timezone"`
		Rows     []struct {
			ZoneID   int64 `json:"zone_id"`
			Requests int64 `json:"requests"`
		} `json:"rows"`
		Totals struct {
			SpendMicros int64 `json:"spend_micros"`
		} `json:"totals"`
	}
	out := run("--from", "2025-01-01", "--to", "2025-01-31", "--group-by", "zone", "--format", "json", "--publisher", "9")
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if rep.Timezone != "Europe/Paris" || len(rep.Rows) != 1 || rep.Rows[0].ZoneID != 3 || rep.Rows[0].Requests != 15 || rep.Totals.SpendMicros != 9876543 {
		t.Errorf("JSON: %s", out)
	}
	if out := run("--from", "2025-01-01", "--to", "2025-01-31", "--format", "json", "--advertiser", "7"); !strings.Contains(out, `"rows": []`) {
		t.Errorf("another advertiser's report is not empty: %s", out)
	}

	var errOut bytes.Buffer
	if err := runReport(ctx, []string{"--config", conf, "--group-by", "week"}, &bytes.Buffer{}, &errOut); err == nil ||
		!strings.Contains(err.Error(), `"week" is not one of`) {
		t.Errorf("bad grouping: %v", err)
	}
}
