package models

import "time"

// StatsDelta is what one batch adds to the statistics of one (hour, day, zone, campaign,
// creative, country). Hour is the UTC hour (stats_hourly), Day the calendar day of the same
// events in the network time zone (stats_daily, campaign_daily); for a time zone whose offset
// is not a whole number of hours one hour can feed two days, hence both in the key. The owner
// ids are denormalised into the rows so that reports need no join.
type StatsDelta struct {
	Hour       time.Time // UTC, truncated to the hour
	Day        time.Time // the date (year, month, day) in the network time zone; the clock part is ignored
	ZoneID     int64
	CampaignID int64 // 0 for unfilled requests
	CreativeID int64
	Country    string // ISO 3166-1 alpha-2 upper case, "" when unknown

	AdvertiserID int64
	PublisherID  int64
	SiteID       int64

	Requests           int64 // serve events
	Served             int64 // serve events that returned a creative
	Impressions        int64 // valid impressions
	Clicks             int64 // valid clicks
	Conversions        int64 // approved conversions
	InvalidImpressions int64
	InvalidClicks      int64
	InvalidConversions int64
	SpendNanos         int64 // exact spend in nano-units (1e-9 currency units)
	RevenueNanos       int64 // exact publisher revenue in nano-units
}

// InvalidDelta is what one batch adds to the count of invalid events of one type and reason.
type InvalidDelta struct {
	Hour       time.Time
	Day        time.Time
	ZoneID     int64
	CampaignID int64
	CreativeID int64
	Country    string

	AdvertiserID int64
	PublisherID  int64
	SiteID       int64

	EventType EventType
	Reason    Reason
	Count     int64
}

// ClickRow is one click kept for audits and conversion attribution. FlushBatch numbers the
// clicks of an impression (seq 0 = the first ever stored).
type ClickRow struct {
	ImpressionID ImpressionID
	Time         time.Time
	ServedAt     time.Time
	ZoneID       int64
	CampaignID   int64
	CreativeID   int64
	IPHash       uint64 // keyed hash of the client address: groups clicks without storing addresses
	UAHash       uint64
	ViewerID     uint64
	Country      string
	Reason       Reason // ReasonValid for a billable click
}

// ConversionRow is one conversion kept for the advertiser's audit.
type ConversionRow struct {
	ImpressionID ImpressionID
	Time         time.Time
	ClickTime    time.Time // zero when no click matched (reason no_click)
	ZoneID       int64
	CampaignID   int64
	CreativeID   int64
	AdvertiserID int64
	PayoutMicros int64
	Reason       Reason // ReasonValid: approved
}

// Offset is how far the statistics have consumed one event-log source: the position after the
// last consumed record and that record's time. For the event stream (events.transport =
// "jetstream") Offset is a stream sequence: every message up to it was applied; Mark says which
// later ones were.
type Offset struct {
	Source    string
	Segment   uint64
	Offset    int64
	EventTime time.Time
	Mark      ReleaseMark // the stream only; zero for a worker's log
}

// ReleaseMark is what the stream consumer applied beyond its Offset. It applies the stream's
// events in event-time order, not in the order the stream stored them (a host cut off ships
// its backlog late), so what it applied is not a prefix of the stream: of the messages after
// Offset and up to ReadThrough, exactly the events ordered at or before (Time, Seq) — by event
// time, ties by sequence — were applied. The zero mark: nothing after Offset.
type ReleaseMark struct {
	ReadThrough uint64
	Time        time.Time // nanosecond precision
	Seq         uint64
}

// Applied reports whether the event at stream sequence seq with time t is covered by the mark.
func (m ReleaseMark) Applied(seq uint64, t time.Time) bool {
	if seq > m.ReadThrough {
		return false
	}
	return t.Before(m.Time) || t.Equal(m.Time) && seq <= m.Seq
}

// Batch is everything one aggregator flush commits, atomically.
type Batch struct {
	Stats       []StatsDelta
	Invalid     []InvalidDelta
	Clicks      []ClickRow
	Conversions []ConversionRow
	Offsets     []Offset
	// Expect, when set, are the offsets the database must hold before the batch applies
	// (compare-and-set; a missing row is the zero offset). The stream consumer sets it: an
	// aggregator that lost its leadership and still commits a flush must fail (ECONFLICT)
	// rather than count what its successor counts too.
	Expect []Offset
}

// Events returns a rough size of the batch for logs: the rows it will write.
func (b *Batch) Events() int {
	return len(b.Stats) + len(b.Invalid) + len(b.Clicks) + len(b.Conversions)
}

// Validate rejects what MariaDB's strict mode would reject half-way through the transaction, with a
// message naming the problem.
func (b *Batch) Validate() error {
	country := func(c string) error {
		if c == "" || len(c) == 2 && c[0] >= 'A' && c[0] <= 'Z' && c[1] >= 'A' && c[1] <= 'Z' {
			return nil
		}
		return Errorf(EINVALID, "country %q: must be two upper-case letters or empty", c)
	}
	for i := range b.Stats {
		if err := country(b.Stats[i].Country); err != nil {
			return err
		}
	}
	for i := range b.Invalid {
		if err := country(b.Invalid[i].Country); err != nil {
			return err
		}
	}
	for i := range b.Clicks {
		if err := country(b.Clicks[i].Country); err != nil {
			return err
		}
	}
	for _, o := range b.Offsets {
		if o.Source == "" || len(o.Source) > 64 || o.Offset < 0 {
			return Errorf(EINVALID, "event log offset %q %d:%d is invalid", o.Source, o.Segment, o.Offset)
		}
	}
	return nil
}

// ZoneDims are the owners of a zone and its publisher's revenue share, denormalised into the
// statistics rows.
type ZoneDims struct {
	SiteID         int64
	PublisherID    int64
	RevenueShareBP int
	Billing        Billing
}

// CampaignDims are a campaign's owner and pricing model.
type CampaignDims struct {
	AdvertiserID int64
	Pricing      PricingModel
	Billing      Billing
}

// Billing is whether a zone or campaign bills: its status and when that last changed.
type Billing struct {
	Status    Status    // "" when unknown (bills)
	ChangedAt time.Time // when Status was set; zero: before anyone recorded it
}

// Stopped reports whether an event at t must not bill: the zone or campaign was paused or
// archived at or before t. The status is the current one: an event between a pause and a later
// resume that is read after the resume bills.
func (b Billing) Stopped(t time.Time) bool {
	return b.Status != "" && b.Status != StatusActive && !t.Before(b.ChangedAt)
}

// Dimensions map every zone and campaign, whatever their status (archived ones still receive
// late events), to what the statistics denormalise and price with.
type Dimensions struct {
	LoadedAt  time.Time
	Zones     map[int64]ZoneDims
	Campaigns map[int64]CampaignDims
}

// ConversionFact is what the database knows about the click a conversion names.
type ConversionFact struct {
	ClickTime time.Time // time of the impression's first stored valid click; zero if it has none
	Converted bool      // an approved conversion of this click is already stored
}
