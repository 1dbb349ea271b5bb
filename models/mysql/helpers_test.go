package mysql_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// clock is a settable time source for Store.SetNow. Its readings have nanoseconds so that the
// tests see the store normalise them to what DATETIME(6) keeps.
type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

// newStore returns a store over a fresh database and the clock it stamps rows with.
func newStore(t *testing.T) (*mysql.Store, *mysql.DB, *clock) {
	t.Helper()
	db := mysqltest.MustOpenDB(t)
	s := mysql.NewStore(db)
	c := &clock{t: time.Date(2025, 3, 1, 12, 0, 0, 123456789, time.FixedZone("X", 3600))}
	s.SetNow(c.now)
	return s, db, c
}

// wantErr fails unless err carries code and its message contains msg.
func wantErr(t *testing.T, err error, code, msg string) {
	t.Helper()
	if models.ErrorCode(err) != code || !strings.Contains(models.ErrorMessage(err), msg) {
		t.Fatalf("error = %v, want code %s with message containing %q", err, code, msg)
	}
}

// same fails unless got and want are deeply equal.
func same(t *testing.T, what string, got, want any) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s:\n got %+v\nwant %+v", what, got, want)
	}
}

func ptr[T any](v T) *T { return &v }

func mustAdvertiser(t *testing.T, s *mysql.Store, name string, status models.Status) *models.Advertiser {
	t.Helper()
	a := &models.Advertiser{Name: name, Status: status, PostbackSecret: "secret-" + name}
	if err := s.CreateAdvertiser(t.Context(), a); err != nil {
		t.Fatalf("create advertiser %s: %v", name, err)
	}
	return a
}

func newCampaign(advertiserID int64, name string) *models.Campaign {
	return &models.Campaign{
		AdvertiserID: advertiserID, Name: name, Status: models.StatusActive,
		Tier: models.TierRemnant, Weight: 10, Pricing: models.PricingCPM, RateMicros: 2_500_000,
		Pacing: models.PacingASAP,
	}
}

func mustCampaign(t *testing.T, s *mysql.Store, c *models.Campaign) *models.Campaign {
	t.Helper()
	if err := s.CreateCampaign(t.Context(), c); err != nil {
		t.Fatalf("create campaign %s: %v", c.Name, err)
	}
	return c
}

func newCreative(campaignID int64, name string) *models.Creative {
	return &models.Creative{
		CampaignID: campaignID, Name: name, Status: models.StatusActive, Kind: models.CreativeImage,
		Width: 300, Height: 250, Weight: 1, ImageURL: "https://cdn.example/" + name + ".png",
		ClickURL: "https://shop.example/?c=" + name,
	}
}

func mustCreative(t *testing.T, s *mysql.Store, c *models.Creative) *models.Creative {
	t.Helper()
	if err := s.CreateCreative(t.Context(), c); err != nil {
		t.Fatalf("create creative %s: %v", c.Name, err)
	}
	return c
}

func mustPublisher(t *testing.T, s *mysql.Store, name string, status models.Status) *models.Publisher {
	t.Helper()
	p := &models.Publisher{Name: name, Status: status, RevenueShareBP: 7000}
	if err := s.CreatePublisher(t.Context(), p); err != nil {
		t.Fatalf("create publisher %s: %v", name, err)
	}
	return p
}

func mustSite(t *testing.T, s *mysql.Store, publisherID int64, domain string, status models.Status) *models.Site {
	t.Helper()
	st := &models.Site{PublisherID: publisherID, Name: domain, Domain: domain, Status: status}
	if err := s.CreateSite(t.Context(), st); err != nil {
		t.Fatalf("create site %s: %v", domain, err)
	}
	return st
}

func mustZone(t *testing.T, s *mysql.Store, siteID int64, name string, status models.Status) *models.Zone {
	t.Helper()
	z := &models.Zone{SiteID: siteID, Name: name, Width: 300, Height: 250, Status: status}
	if err := s.CreateZone(t.Context(), z); err != nil {
		t.Fatalf("create zone %s: %v", name, err)
	}
	return z
}

func mustLink(t *testing.T, s *mysql.Store, zoneID, campaignID int64) {
	t.Helper()
	if err := s.LinkZoneCampaign(t.Context(), &models.ZoneCampaign{ZoneID: zoneID, CampaignID: campaignID, Weight: 1}); err != nil {
		t.Fatalf("link zone %d campaign %d: %v", zoneID, campaignID, err)
	}
}
