// Package jetstream carries the events of several hosts to one aggregator over a replicated
// NATS JetStream stream (events.transport = "jetstream").
//
// The worker's hot path does not change: it appends each event to its local log before it
// answers. A Shipper per host (`adnet ship`) tails the host's logs with eventlog.Reader,
// merges them by event time (the same watermark as the aggregator's merge, so a beacon goes
// before the click on it), and publishes every event to the subject adnet.events.<host> with
// the message id <host>/<worker-n>/<w…>/<segment>:<offset>, stable for the event's whole life.
// Publishing is asynchronous with at most Options.MaxPending messages awaiting their PubAck;
// the shipped-offset file (<data_dir>/events/shipped.json, written by atomic rename after
// fsync) records per log only the prefix the stream acknowledged. A crashed shipper therefore
// re-sends from there, and the stream's duplicate window (DuplicateWindow) drops what it had
// already stored: nothing skipped, nothing twice. The shipper, not the aggregator, prunes the
// local logs in this mode, behind the shipped offsets.
//
// Every second the shipper also publishes a heartbeat on its subject: a message without a
// body whose header HeaderThrough is a time before which every event of the host has been
// acknowledged by the stream (the oldest of: the events awaiting their acknowledgement, each
// log's next event not yet published, now minus the merge's watermark). The aggregator orders
// the hosts' events by time up to the oldest heartbeat of the live hosts (see the aggregator's
// reorder), so that an event re-sent after a failover, or a cut-off host's backlog, is
// applied in its place rather than after later events of other hosts.
//
// The aggregator consumes the stream through Source (an aggregator.StreamSource) with an
// ordered, ephemeral pull consumer that starts after the sequence committed in MariaDB: the
// committed sequence, written in the flush's transaction, is the only truth about what was
// applied, so a commit of unknown outcome is settled against it and never applied twice. No
// consumer state on the server matters. Leadership among aggregators is MariaDB's
// (mysql.DB.AcquireLeader), never adnet's.
//
// # Limits of the stream (EnsureStream)
//
// File storage, R = nats.replicas, retention by limits: messages older than MaxAge (7 days)
// or beyond MaxBytes (the oldest go first) are dropped. The aggregator must therefore not be
// down longer than MaxAge; a shipper must not be down (after a crash: a clean stop records
// everything acknowledged) longer than DuplicateWindow (10 minutes) — the master restarts it
// within seconds — or the at most MaxPending events published but not recorded before the
// crash could be stored twice. The window costs the servers memory for one message id per
// event of the window (about 100 bytes each: 25,000 events/s for 10 minutes ≈ 1.5 GB).
package jetstream
