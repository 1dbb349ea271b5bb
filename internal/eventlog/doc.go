// Package eventlog is the per-worker, append-only event log: every ad event (serve,
// impression, click, conversion) a FastCGI worker handles is appended here before the HTTP
// response is sent, and a separate aggregator process tails all workers' logs and commits
// aggregates together with its log Position to MariaDB in one transaction, which makes the
// statistics exactly-once: after a crash the aggregator resumes from the committed Position
// and neither loses nor double-counts a record.
//
// # Durability
//
// A record is written (write(2) has returned) before the client gets its response, so it is
// in the kernel's page cache and survives the worker's crash or SIGKILL: nothing is lost once
// Append returned nil. Records are not fsynced one by one (that would cap throughput at the
// disk's flush rate); a background goroutine fsyncs every FsyncInterval instead, so a power
// loss or kernel crash can take at most the last FsyncInterval of records. When Append fails
// the caller must not pretend the event happened: it answers 503 (the error carries
// models.EUNAVAILABLE).
//
// # Layout
//
// Each worker process has its own directory, ProcessDir(WorkerDir(data_dir, n), start, pid) =
// <data_dir>/events/worker-<n>/w<start-unixnano>-<pid>/, holding segment files named
// <20-digit sequence>.seg, e.g. 00000000000000000042.seg, and a writer.lock file that stops
// two live writers from sharing a directory. layout.go is the one place that knows these
// names: readers find the directories with Sources, list them with Segments and ask
// WriterGone whether a directory is finished. A Writer always
// starts a new segment when it opens, so it never appends after a torn tail left by a
// crashed predecessor; it rotates to the next sequence by size and by age. A segment is a
// plain concatenation of records (see record.go for the byte layout) with no file header, so
// a Position (segment, byte offset) is all a reader needs to resume.
//
// # Reading
//
// Reader tails a live directory from another process. A partial record at the end of the
// newest segment is a write in progress and reads as io.EOF (poll again later); once a newer
// segment exists the older one is final, and a partial or corrupt tail there is skipped and
// counted. Corruption in the middle of a segment is skipped by resynchronising on the next
// valid header and CRC, and counted. Prune deletes segments wholly before the aggregator's
// committed Position (or, with the JetStream transport, the shipper's acknowledged one).
//
// # Across hosts
//
// Consumers depend on small interfaces they define themselves: the handlers on
// Append(*models.Event) error, the aggregator on a source with Next(*models.Event)
// (Position, error). With events.transport = "jetstream" the local log stays the worker's
// durable write (nothing on the hot path changes); package internal/jetstream's shipper tails
// it with Reader and forwards each record (EncodeRecord: the same bytes, CRC included) to a
// replicated stream, recording what the stream acknowledged, and prunes behind that instead of
// the aggregator's committed Position. The aggregator then reads the stream, whose Position is
// {0, stream sequence}, committed to MariaDB in the flush's transaction as before.
package eventlog
