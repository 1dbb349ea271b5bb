package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"adnet/models"
	"adnet/models/mysql/mysqltest"
)

// TestMain gives this package's tests a MariaDB server for the reports tests (started only if
// a test asks for a database).
func TestMain(m *testing.M) { mysqltest.Main(m) }

// reportsFixture stores two hours of statistics (Europe/Paris is the network time zone):
//
//	R1 2025-01-14 22:00Z (23:00 local, Jan 14) zone 1/site 10/pub 100, campaign 5/adv 50, creative 51, FR
//	R2 2025-01-15 10:00Z (11:00 local, Jan 15) zone 2/site 20/pub 200, campaign 6/adv 60, creative 61, —
func reportsFixture(t *testing.T) (*reportsClient, *time.Location) {
	t.Helper()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	f := newAPIFixture(t, paris, withReportAllow)
	store := f.store
	h1 := time.Date(2025, 1, 14, 22, 0, 0, 0, time.UTC)
	h2 := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	r1 := models.StatsDelta{Hour: h1, Day: h1, ZoneID: 1, SiteID: 10, PublisherID: 100, CampaignID: 5, AdvertiserID: 50,
		CreativeID: 51, Country: "FR", Requests: 10, Served: 8, Impressions: 6, Clicks: 2, Conversions: 1,
		InvalidImpressions: 1, InvalidClicks: 1, SpendNanos: 6_500_000, RevenueNanos: 4_550_000}
	r2 := models.StatsDelta{Hour: h2, Day: h2, ZoneID: 2, SiteID: 20, PublisherID: 200, CampaignID: 6, AdvertiserID: 60,
		CreativeID: 61, Requests: 20, Served: 10, Impressions: 10, Clicks: 1, InvalidConversions: 1,
		SpendNanos: 1_000_999, RevenueNanos: 500_499}
	inv := func(r models.StatsDelta, typ models.EventType, reason models.Reason) models.InvalidDelta {
		return models.InvalidDelta{Hour: r.Hour, Day: r.Day, ZoneID: r.ZoneID, CampaignID: r.CampaignID, CreativeID: r.CreativeID,
			Country: r.Country, AdvertiserID: r.AdvertiserID, PublisherID: r.PublisherID, SiteID: r.SiteID,
			EventType: typ, Reason: reason, Count: 1}
	}
	err = store.FlushBatch(context.Background(), &models.Batch{Stats: []models.StatsDelta{r1, r2}, Invalid: []models.InvalidDelta{
		inv(r1, models.EventImpression, models.ReasonBotUA), inv(r1, models.EventClick, models.ReasonDuplicateClick),
		inv(r2, models.EventConversion, models.ReasonNoClick),
	}})
	if err != nil {
		t.Fatal(err)
	}
	return &reportsClient{f: f, token: f.tokens["admin"]}, paris
}

// reportsClient sends report requests as the network's admin.
type reportsClient struct {
	f     *apiFixture
	token string
}

func (c *reportsClient) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Authorization") == "" {
		r.Header.Set("Authorization", "Bearer "+c.token)
	}
	c.f.mux.ServeHTTP(w, r)
}

func getReport(h http.Handler, remote, query string) *httptest.ResponseRecorder {
	r := httptest.NewRequest(http.MethodGet, "/api/v1/reports?"+query, nil)
	r.RemoteAddr = remote
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

// jsonValue decodes s (a hand-written expectation, or a response body) for comparison.
func jsonValue(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatalf("%v in %s", err, s)
	}
	return v
}

// TestReportsJSONContract checks every field name and value of the JSON answer against a
// hand-computed report.
func TestReportsJSONContract(t *testing.T) {
	t.Parallel()
	h, _ := reportsFixture(t)
	w := getReport(h, "127.0.0.1:40000", "from=2025-01-14&to=2025-01-15&group_by=day,campaign")
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "application/json") {
		t.Fatalf("status %d %s: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	want := `{
		"from": "2025-01-14T00:00:00+01:00", "to": "2025-01-16T00:00:00+01:00", "timezone": "Europe/Paris",
		"group_by": ["day", "campaign"],
		"rows": [
			{"day": "2025-01-14", "campaign_id": 5, "requests": 10, "served": 8, "impressions": 6, "clicks": 2,
			 "conversions": 1, "invalid_impressions": 1, "invalid_clicks": 1, "invalid_conversions": 0,
			 "invalid_by_reason": {"bot_ua": 1, "duplicate_click": 1}, "spend_micros": 6500,
			 "publisher_revenue_micros": 4550, "ctr": 0.333333, "conversion_rate": 0.5, "ecpm_micros": 1083333,
			 "ecpc_micros": 3250, "invalid_rate": 0.2, "invalid_by_class": {"givt": 2, "sivt": 0},
			 "adjustment": {"impressions": 0, "clicks": 0, "conversions": 0, "invalid_impressions": 0, "invalid_clicks": 0, "invalid_conversions": 0, "invalid_by_class": {"givt": 0, "sivt": 0}, "spend_micros": 0, "publisher_revenue_micros": 0},
			 "restated": {"impressions": 6, "clicks": 2, "conversions": 1, "invalid_impressions": 1, "invalid_clicks": 1,
			  "invalid_conversions": 0, "invalid_by_class": {"givt": 2, "sivt": 0}, "spend_micros": 6500, "publisher_revenue_micros": 4550}},
			{"day": "2025-01-15", "campaign_id": 6, "requests": 20, "served": 10, "impressions": 10, "clicks": 1,
			 "conversions": 0, "invalid_impressions": 0, "invalid_clicks": 0, "invalid_conversions": 1,
			 "invalid_by_reason": {"no_click": 1}, "spend_micros": 1000, "publisher_revenue_micros": 500,
			 "ctr": 0.1, "conversion_rate": 0, "ecpm_micros": 100000, "ecpc_micros": 1000, "invalid_rate": 0,
			 "invalid_by_class": {"givt": 0, "sivt": 1},
			 "adjustment": {"impressions": 0, "clicks": 0, "conversions": 0, "invalid_impressions": 0, "invalid_clicks": 0, "invalid_conversions": 0, "invalid_by_class": {"givt": 0, "sivt": 0}, "spend_micros": 0, "publisher_revenue_micros": 0},
			 "restated": {"impressions": 10, "clicks": 1, "conversions": 0, "invalid_impressions": 0, "invalid_clicks": 0,
			  "invalid_conversions": 1, "invalid_by_class": {"givt": 0, "sivt": 1}, "spend_micros": 1000, "publisher_revenue_micros": 500}}
		],
		"totals": {"requests": 30, "served": 18, "impressions": 16, "clicks": 3, "conversions": 1,
			"invalid_impressions": 1, "invalid_clicks": 1, "invalid_conversions": 1,
			"invalid_by_reason": {"bot_ua": 1, "duplicate_click": 1, "no_click": 1}, "spend_micros": 7500,
			"publisher_revenue_micros": 5050, "ctr": 0.1875, "conversion_rate": 0.333333, "ecpm_micros": 468750,
			"ecpc_micros": 2500, "invalid_rate": 0.095238, "invalid_by_class": {"givt": 2, "sivt": 1},
			"adjustment": {"impressions": 0, "clicks": 0, "conversions": 0, "invalid_impressions": 0, "invalid_clicks": 0, "invalid_conversions": 0, "invalid_by_class": {"givt": 0, "sivt": 0}, "spend_micros": 0, "publisher_revenue_micros": 0},
			"restated": {"impressions": 16, "clicks": 3, "conversions": 1, "invalid_impressions": 1, "invalid_clicks": 1,
			 "invalid_conversions": 1, "invalid_by_class": {"givt": 2, "sivt": 1}, "spend_micros": 7500, "publisher_revenue_micros": 5050}}
	}`
	if got, exp := jsonValue(t, w.Body.String()), jsonValue(t, want); !reflect.DeepEqual(got, exp) {
		t.Errorf("JSON:\n got %s\nwant %s", w.Body, want)
	}
}

func TestReportsCSV(t *testing.T) {
	t.Parallel()
	h, _ := reportsFixture(t)
	w := getReport(h, "[::1]:40000", "from=2025-01-14&to=2025-01-15&group_by=zone&format=csv")
	if w.Code != http.StatusOK || w.Header().Get("Content-Type") != "text/csv; charset=utf-8" {
		t.Fatalf("status %d %s: %s", w.Code, w.Header().Get("Content-Type"), w.Body)
	}
	want := "zone_id,requests,served,impressions,clicks,conversions,invalid_impressions,invalid_clicks,invalid_conversions," +
		"spend_micros,publisher_revenue_micros,ctr,conversion_rate,ecpm_micros,ecpc_micros,invalid_rate," +
		"invalid_bad_token,invalid_expired_token,invalid_bot_ua,invalid_prefetch,invalid_blocked_ip,invalid_datacenter," +
		"invalid_duplicate_click,invalid_duplicate_impression,invalid_click_flood,invalid_fast_click,invalid_no_impression," +
		"invalid_referrer_mismatch,invalid_duplicate_conversion,invalid_no_click,invalid_paused_zone,invalid_paused_campaign," +
		"invalid_token_mismatch,invalid_automation,invalid_givt,invalid_sivt," +
		"adjustment_impressions,adjustment_clicks,adjustment_conversions,adjustment_invalid_impressions,adjustment_invalid_clicks," +
		"adjustment_invalid_conversions,adjustment_invalid_givt,adjustment_invalid_sivt,adjustment_spend_micros,adjustment_publisher_revenue_micros," +
		"restated_impressions,restated_clicks,restated_conversions,restated_invalid_impressions,restated_invalid_clicks," +
		"restated_invalid_conversions,restated_invalid_givt,restated_invalid_sivt,restated_spend_micros,restated_publisher_revenue_micros\n" +
		"1,10,8,6,2,1,1,1,0,6500,4550,0.333333,0.5,1083333,3250,0.2,0,0,1,0,0,0,1,0,0,0,0,0,0,0,0,0,0,0,2,0,0,0,0,0,0,0,0,0,0,0,6,2,1,1,1,0,2,0,6500,4550\n" +
		"2,20,10,10,1,0,0,0,1,1000,500,0.1,0,100000,1000,0,0,0,0,0,0,0,0,0,0,0,0,0,0,1,0,0,0,0,0,1,0,0,0,0,0,0,0,0,0,0,10,1,0,0,0,1,0,1,1000,500\n" +
		"total,30,18,16,3,1,1,1,1,7500,5050,0.1875,0.333333,468750,2500,0.095238,0,0,1,0,0,0,1,0,0,0,0,0,0,1,0,0,0,0,2,1,0,0,0,0,0,0,0,0,0,0,16,3,1,1,1,1,2,1,7500,5050\n"
	if got := w.Body.String(); got != want {
		t.Errorf("CSV:\n got %s\nwant %s", got, want)
	}
}

func TestReportsOwnerFilter(t *testing.T) {
	t.Parallel()
	h, _ := reportsFixture(t)
	for _, c := range []struct {
		query string
		zones []any
	}{
		{"advertiser=60", []any{2.0}},
		{"publisher=100", []any{1.0}},
		{"advertiser=50&publisher=200", []any{}},
	} {
		w := getReport(h, "127.0.0.1:1", "from=2025-01-01&to=2025-01-31&group_by=zone&"+c.query)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", c.query, w.Code, w.Body)
		}
		body := jsonValue(t, w.Body.String()).(map[string]any)
		zones := []any{}
		for _, r := range body["rows"].([]any) {
			zones = append(zones, r.(map[string]any)["zone_id"])
		}
		if !reflect.DeepEqual(zones, c.zones) {
			t.Errorf("%s: zones %v, want %v", c.query, zones, c.zones)
		}
	}
}

func TestReportsAllowList(t *testing.T) {
	t.Parallel()
	h, _ := reportsFixture(t)
	for remote, want := range map[string]int{
		"127.0.0.1:5555":          http.StatusOK,
		"127.0.0.1":               http.StatusOK,
		"[::1]:80":                http.StatusOK,
		"[::ffff:127.0.0.1]:8080": http.StatusOK,
		"192.0.2.1:5555":          http.StatusForbidden,
		"[2001:db8::1]:443":       http.StatusForbidden,
		"127.0.0.2:1":             http.StatusForbidden,
		"@":                       http.StatusForbidden,
		"":                        http.StatusForbidden,
	} {
		w := getReport(h, remote, "from=2025-01-14&to=2025-01-15")
		if w.Code != want {
			t.Errorf("client %q: status %d, want %d", remote, w.Code, want)
		}
		if want == http.StatusForbidden {
			body := jsonValue(t, w.Body.String()).(map[string]any)
			if body["error"].(map[string]any)["code"] != models.EFORBIDDEN {
				t.Errorf("client %q: body %s", remote, w.Body)
			}
		}
	}
}

func TestReportsErrors(t *testing.T) {
	t.Parallel()
	h, _ := reportsFixture(t)
	for query, msg := range map[string]string{
		"from=yesterday":                  `from = "yesterday": use a date`,
		"group_by=week":                   `"week" is not one of`,
		"group_by=day,hour":               "choose one of hour, day and month",
		"format=xml":                      `format = "xml"`,
		"advertiser=-3":                   `advertiser = "-3": must be a positive id`,
		"from=2025-02-01&to=2025-01-01":   "from must be before to",
		"from=2020-01-01&to=2025-01-01":   "at most 3 years",
		"publisher=abc&group_by=campaign": `publisher = "abc"`,
	} {
		w := getReport(h, "127.0.0.1:1", query)
		var body errorBody
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil || w.Code != http.StatusBadRequest ||
			body.Error.Code != models.EINVALID || !strings.Contains(body.Error.Message, msg) {
			t.Errorf("%s: %d %s, want 400 invalid %q", query, w.Code, w.Body, msg)
		}
	}
	r := httptest.NewRequest(http.MethodPost, "/api/v1/reports", nil)
	r.RemoteAddr = "127.0.0.1:1"
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	if w.Code != http.StatusMethodNotAllowed || !strings.Contains(w.Header().Get("Allow"), "GET") {
		t.Errorf("POST: %d %s", w.Code, w.Header())
	}
}

func TestParseReportQuery(t *testing.T) {
	t.Parallel()
	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2025, 3, 10, 12, 0, 0, 0, paris)
	parse := func(query string) (models.ReportQuery, string) {
		v, err := url.ParseQuery(query)
		if err != nil {
			t.Fatal(err)
		}
		q, format, err := ParseReportQuery(v, paris, now)
		if err != nil {
			t.Fatalf("%s: %v", query, err)
		}
		return q, format
	}
	q, format := parse("")
	if !q.From.Equal(time.Date(2025, 3, 4, 0, 0, 0, 0, paris)) || !q.To.Equal(time.Date(2025, 3, 11, 0, 0, 0, 0, paris)) ||
		format != "json" || q.GroupBy != nil || q.Location != paris {
		t.Errorf("defaults: %v %v %s %v", q.From, q.To, format, q.GroupBy)
	}
	q, format = parse("from=2025-03-01T14:00&to=2025-03-02&group_by=Day,+zone&advertiser=7&format=CSV")
	if !q.From.Equal(time.Date(2025, 3, 1, 14, 0, 0, 0, paris)) || !q.To.Equal(time.Date(2025, 3, 3, 0, 0, 0, 0, paris)) ||
		format != "csv" || !reflect.DeepEqual(q.GroupBy, []string{"day", "zone"}) || q.AdvertiserID != 7 {
		t.Errorf("explicit: %v %v %s %v %d", q.From, q.To, format, q.GroupBy, q.AdvertiserID)
	}
	q, _ = parse("from=2025-03-01T00:00:00Z&to=2025-03-01T06:30:00%2B02:00")
	if !q.From.Equal(time.Date(2025, 3, 1, 0, 0, 0, 0, time.UTC)) || !q.To.Equal(time.Date(2025, 3, 1, 4, 30, 0, 0, time.UTC)) {
		t.Errorf("RFC 3339: %v %v", q.From, q.To)
	}
}
