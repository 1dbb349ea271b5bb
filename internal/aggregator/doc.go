// Package aggregator turns the workers' event logs into the statistics tables, exactly once.
//
// # Sources and order
//
// Every worker process writes its own log directory, <data_dir>/events/worker-<n>/w<start>-<pid>/
// (the layout belongs to package eventlog: Root, Sources, Segments, WriterGone); the
// eventlog.Source name, the directory's relative path, is the source's key in eventlog_offsets.
// The aggregator lists new sources every second and tails each one with an
// eventlog.Reader from its committed offset. The sources are merged by event time (a k-way
// merge, ties to the source first by name). A worker that has nothing buffered may still be
// about to write an earlier event, so while any live source is empty, only events older than
// Options.Watermark (2 s) are released: an impression beacon logged by worker 1 is counted
// before the click on it that worker 2 logged a moment later. A catch-up after an outage
// merges purely by time, since every source then has events waiting.
//
// # Verdicts
//
// An event keeps the worker's verdict (Reason != 0). Otherwise the aggregator, which sees all
// workers, adds the verdicts that need that global view (see verdicts.judge): duplicate
// impressions and clicks, click floods per viewer and per IP group (IPv6 /64; a click with a
// viewer cookie meets ten times fraud.max_clicks_per_ip there, as people share carrier-NAT
// addresses), fast clicks,
// clicks without impression, and clicks on an impression whose beacon the worker judged
// automation, referrer_mismatch or token_mismatch (the click inherits that reason: the
// automated browser's click, the spoofed iframe's click, which carries no page of its own to
// check), with internal/fraud's bounded-memory filters sized for
// Options.ExpectedEventsPerSecond (fraud.design_load). Above that load the duplicate filters
// degrade toward counting: they stop recording rather than let their false-positive rate pass
// its bound, so a repeat of an unrecorded event is counted valid and a click whose beacon may
// be unrecorded is not no_impression (Stats.NoImpressionUnchecked); Stats.Dedup gives each
// filter's fill and estimated false-positive rate, and Stats.CapacityWarning names
// fraud.design_load while a filter is saturated. Conversions are judged at flush time against the database
// instead (no_click: no valid click was stored; duplicate_conversion: the click already has an
// approved conversion), because a conversion can come days after its click, far beyond any
// in-memory window, and the clicks and conversions tables are exact.
//
// Each impression id bills at most one impression, one click and one conversion for its
// tokens' whole life (tracking.token_ttl), not only for the filters' window: a beacon later
// than fraud.click_window after its serve is expired_token (the filter remembered every
// earlier beacon until then), and a click that late is judged at flush time against the stored
// valid clicks of its impression and the batch's (duplicate_click). Events of a zone or
// campaign paused, archived or deleted before them bill nothing (paused_zone,
// paused_campaign): the statuses are checked against the latest status change before an event
// newer than them is counted. Ad requests for zone ids that do not exist are counted under
// zone 0, one unknown-zone figure.
//
// # Exactly once
//
// Every Options.FlushInterval (or when Options.MaxBatchEvents events are held) one MariaDB
// transaction (mysql.Store.FlushBatch) adds the batch to stats_hourly, stats_daily,
// stats_zone_daily, their invalid-by-reason twins and campaign_daily, inserts the click and
// conversion rows, and moves each source's offset to just after the last event in the batch.
// Counts and offsets commit together or not at all, so after a crash the aggregator resumes
// from the committed offsets and neither loses nor double-counts an event. A commit reported
// as failed may still have been committed (the connection can die after COMMIT reached the
// server); that batch is kept aside, and before anything else is committed the offsets table
// is read: if it shows the batch's offsets, the batch is done, otherwise it is merged into the
// next one. Only one aggregator may run per data directory (a lock file enforces it).
//
// # Verdict state across restarts
//
// The verdicts depend on what came before (was this impression clicked in the last ten
// minutes?), so a restart must not forget it: a click replayed right after a crash must still
// be a duplicate. The state is rebuilt rather than persisted: on start, before counting
// anything, the aggregator re-reads from every source the events of the last fraud.click_window
// (plus one filter slot and the watermark) before the committed offsets and feeds them through
// the same verdict code, in the same merged order, without counting them. eventlog_offsets
// keeps the time of each source's last committed event, so the window is found even when the
// aggregator was hours behind; segments last written before it are skipped unread. Persisting
// the filters instead would write tens of megabytes per flush. The rebuilt state equals the
// state an uninterrupted aggregator would have had, up to the merge order of events that were
// out of order by more than the watermark, and up to the filters' false positives (their hash
// seeds are per process); neither can count an event twice, since only uncommitted events are
// judged again.
//
// # Money
//
// Spend is exact. A CPM impression costs rate/1000 micro-units, i.e. exactly `rate` nano-units;
// CPC clicks and CPA conversions cost their rate. The rate, the pricing model and the
// publisher's share are the terms in force at decision time, signed into the tokens and
// recorded with each event (only events of older tokens take the current terms); a CPA
// postback's payout is recorded, never billed. The statistics tables keep spend
// and publisher revenue in nano-units (spend_nanos, publisher_revenue_nanos) next to the
// micro-unit columns, which every upsert recomputes as nanos DIV 1000. Nothing is rounded per
// event or per flush, so the totals do not depend on where batches ended (which a crash
// changes). Publisher revenue is models.PublisherRevenue applied per event at nano precision
// (cost × share / 10000, rounded down to the nano-unit). Reports sum the nanos and round down
// once per report row, and once for the totals (which are thus the same for every grouping).
//
// # Days
//
// stats_hourly is keyed by the UTC hour. stats_daily, stats_zone_daily and campaign_daily are
// keyed by the calendar day of each event in the network time zone (Options.Location), computed
// from the event's own time: exact also for zones whose offset is not a whole number of hours.
// The daily tables are written in the same transaction as the hourly one, so the 90-day reports
// read 24 times fewer rows; the hourly "rollup" past stats.hourly_retention therefore only
// deletes hourly rows (mysql.Store.Rollup), hourly, in short transactions.
//
// # Outages and retention
//
// When MariaDB is unreachable the workers keep serving and logging. The aggregator keeps
// reading until it holds MaxBatchEvents events, retries with exponential backoff (logged once
// per outage) and catches up afterwards. Committed segments older than events.retention are
// pruned; a source whose writer is gone, fully committed and older than the retention is
// removed with its offset (renamed out of sight first, so a crash can never let it be read
// again from the start). Stats reports lag per source, commits, errors and disk usage.
//
// # The stream (events.transport = "jetstream")
//
// With Options.Stream set, the one source is the replicated stream every host's shipper
// publishes to (package internal/jetstream), read after the sequence committed under
// Stream.Name() in eventlog_offsets; the verdicts thus see every host's events. The stream's
// order is the order messages reached it, not the order events happened: a host cut off ships
// its backlog after the others' later events. The reorder (reorder.go) therefore applies the
// events by event time, holding each until the live hosts' heartbeats say nothing older can
// come (or Options.ReorderWindow of a host's silence has passed, after which that host's
// backlog is applied late), so a click on host B meets its impression beaconed on host A. What
// was applied is then not a prefix of the stream: each flush commits, with the sequence before
// the oldest held event, a models.ReleaseMark (read through which sequence, applied up to
// which event time and sequence), and a restart resumes exactly from both. Each flush also
// checks, in its transaction, that the row still holds the position and mark the batch was
// read from (models.Batch.Expect): an aggregator that lost its leadership (MariaDB's lock,
// taken by the caller) and still commits fails instead of counting twice, and stops. The
// warm-up re-reads the stream from the click window's start (by stored time), and teaches the
// reorder the hosts' clocks. Local logs are the shipper's to prune in this mode; the
// aggregator touches no file but its lock.
package aggregator
