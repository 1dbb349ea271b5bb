-- adnet schema, version 7: the stream consumer's release mark (issue 14: exact statistics across
-- hosts). With events.transport = "jetstream" the aggregator reads one stream that every host's
-- shipper appends to, in the order the stream stored the messages. That order is not the order
-- the events happened in: a host cut off from the stream for 20 s ships its backlog after other
-- hosts' later events, and a shipper re-sends its window after a stream failover. A click must
-- still meet its impression first (no_impression) and a conversion its click (no_click), so the
-- aggregator holds the messages in a buffer and applies them in event-time order, releasing an
-- event once every live host has shipped everything older (the shippers' heartbeats say so).
--
-- What was applied is then no longer a prefix of the stream. eventlog_offsets keeps, for the
-- stream's row only (zero for a worker's log):
--  * `offset`: every message up to this sequence was applied (the oldest still held is after it);
--  * read_through: every message up to this sequence had been read when the batch was cut;
--  * released_ns, released_seq: of the messages after `offset` and up to read_through, exactly
--    the events ordered at or before (event time in Unix ns, sequence) were applied.
-- They are written in the flush's transaction with the statistics, and the flush's fence
-- compares all of them, so a restart resumes exactly: it reads again after `offset`, skips what
-- the mark says was applied and holds the rest again.

-- +goose Up
ALTER TABLE eventlog_offsets
    ADD COLUMN read_through BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER event_time,
    ADD COLUMN released_ns  BIGINT          NOT NULL DEFAULT 0 AFTER read_through,
    ADD COLUMN released_seq BIGINT UNSIGNED NOT NULL DEFAULT 0 AFTER released_ns;

-- +goose Down
ALTER TABLE eventlog_offsets
    DROP COLUMN released_seq,
    DROP COLUMN released_ns,
    DROP COLUMN read_through;
