// Package fraud holds adnet's invalid-traffic engines (MRC IVT guidelines, general invalid
// traffic): pure, allocation-free on their hot paths, bounded in memory, with no HTTP and no
// SQL. Handlers and the aggregator wire them in; this package only decides.
//
// Per-request verdicts, taken by the FastCGI workers and written into each event:
//
//   - UAClassifier: bot_ua (empty, non-browser client, crawlerdetect list, self-declared bot,
//     not a current real browser), with a bounded LRU of verdicts per UA string: a cache hit
//     costs about 50 ns and no allocation, against 100-250 µs for crawlerdetect's regexps.
//   - IsPrefetch: prefetch (Sec-Purpose, Purpose, X-Moz, X-Purpose headers).
//   - IPSet: blocked_ip and datacenter lists and the trusted proxies, IPv4 and IPv6, single
//     addresses, CIDRs and ranges, IPv4-mapped addresses matching IPv4 entries. Immutable,
//     so it can be swapped atomically. 8 bytes per IPv4 range and 32 per IPv6 range (1M
//     random entries, half of each: 20 bytes/entry, 19 MiB); Contains takes 170-280 ns on a
//     1M-entry set (a few cache misses) and never allocates.
//   - BuiltinDatacenter: the cloud providers' published ranges, embedded from datacenter.txt
//     (its header names the source module and version, the date and `make
//     update-datacenter-list`, which regenerates it); no ISP, mobile or relay ranges. 5,689
//     merged ranges, 115 KiB of range tables.
//   - ListFile: an IP list file read again at every reload that keeps its last good content:
//     an unreadable file or a bad line leaves the previous set in force and reports the
//     error naming the file and the lines.
//   - ClientIP and GroupKey: the client address, trusting X-Forwarded-For only from trusted
//     proxies, and its flood-counting group (IPv4 /32, IPv6 /64).
//   - RefererMatches: referrer_mismatch (host equal to the site domain or a subdomain). For a
//     beacon of a tag-served ad the page is the Referer, or — when there is none, or it is
//     adnet's own iframe — the origin the tag reported (po, below); a tag beacon with neither
//     is a mismatch: a missing Referer there is a signal, not a pass. Other requests without
//     a Referer still match (privacy settings strip it; /serve/json apps fire their own).
//   - NetworkOf, UAFamily and RequestFilter.TokenMismatch: token_mismatch. The serve signs
//     into its tracking tokens (internal/token, format version 4) a 32-bit fingerprint of the
//     client's IPv4 /24 or IPv6 /48 (an IPv4-mapped address is IPv4) and its User-Agent
//     family (browser family and OS class; versions do not count), and the worker compares
//     them on the impression beacon (fired by the same browser within seconds), the click
//     and the browser's conversion pixel (its network only within PixelNetworkWindow, 1 h,
//     of the serve: conversions come hours or days later); never on the server-to-server
//     postback, whose address and User-Agent are the advertiser's server. Older tokens carry
//     no binding and skip the check. It is a per-event verdict with a known cost: a phone
//     switching between Wi-Fi and cellular between the serve and the click loses that click
//     (the person still lands). Stateless: no lookup, no allocation.
//   - Signals: automation, from what the script and iframe tags saw in the browser, and
//     reported with the impression beacon (below). Any strong signal, or all four weak hints
//     at once, is automation; so is a beacon of a tag-served ad (the token says which
//     integration asked: token.Integration) without a well-formed sig, since the tags always
//     send it and only a hand-made request lacks it. Beacons of /serve/json ads (apps and
//     servers fire them) need neither parameter.
//
// The tag beacon's parameters (GET /track/imp), for anything that fires beacons as the tags
// do (the fraud evaluation's simulated browsers):
//
//	t    the impression token (as before)
//	sig  the automation signals, a decimal bitmask (at most 10 digits, ≤ 2^32-1; anything
//	     else counts as missing):
//	       1  SigWebdriver    navigator.webdriver === true                    strong
//	       2  SigHeadlessUA   /HeadlessChrome/ in navigator.userAgent          strong
//	       4  SigNoPlugins    /Chrome\// in the UA and navigator.plugins.length === 0   weak
//	       8  SigNoChromeObj  /Chrome\// in the UA and no window.chrome          weak
//	      16  SigNoLanguages  navigator.languages missing or empty              weak
//	      32  SigZeroWindow   window.outerWidth or window.outerHeight is 0      weak
//	     Higher bits are ignored. Weak hints alone are normal on real devices (Chrome on
//	     Android has no plugins, Android WebViews no window.chrome, prerendered or hidden
//	     windows a zero size): only all four together (old headless Chrome) flag.
//	po   the page's origin ("https://news.example", at most MaxPageOriginLen = 300 bytes),
//	     sent unescaped: location.origin for the script tag; for the iframe tag, the
//	     embedding page's — location.ancestorOrigins[0], else the origin of
//	     document.referrer, else empty (Firefox inside a no-referrer page: such a beacon is
//	     then judged on nothing and is referrer_mismatch, a known false positive)
//	cb   a cache buster, ignored
//
// The first occurrence of each parameter counts.
//
// Global verdicts, taken by the aggregator, which sees every worker's events:
//
//   - Dedup: duplicate_click, duplicate_impression, duplicate_conversion, and no_impression
//     through Seen. A jumping-window segmented Bloom filter: no false negatives for two
//     occurrences less than Window apart; an occurrence is forgotten at most
//     Window*(1+1/Segments) later; the false-positive rate at the design load is at most the
//     configured one. With 10 segments it costs 2.09 bytes per event of the window at 1%
//     false positives and 2.88 bytes at 0.1% (measured at 15M events per window: 0.088% in
//     the worst case, the current slot full, and about 0.04% on average). Above the design
//     load it degrades toward counting: a filter whose fill reaches 95% of its share of the
//     false-positive bound (at about 99.3% of the design load) is saturated and records
//     nothing more until its slot leaves the window, so the rate stays under the bound at any
//     load (3x the design: 0.09% measured for a 0.1% bound, where the unbounded filter called
//     65% of fresh keys duplicates) and the repeats of unrecorded occurrences are counted, not
//     flagged. Stats gives the fill, the false-positive rate estimated from it, the saturated
//     segments and the occurrences left unrecorded; Lookup's complete answer tells a caller
//     that "not seen" is not proof (no_impression must then pass).
//   - RateCounter: click_flood, per IP group or viewer over a jumping window. Exact below its
//     capacity (apart from per-slot saturation at 255 and a ~5e-6 chance per Add of two keys
//     sharing a fingerprint), never under-counting above it; 6.2 bytes per event of capacity.
//
// Memory at the design load of 25,000 events/s with a 10-minute window (15M events): a
// Dedup for all 15M events at 0.1% (43.2 MB) plus two RateCounters for 1.5M clicks each
// (9.4 MB each) make 61.9 MB (59 MiB), under the 64 MiB budget (see TestMemoryBudget). A
// worker adds its UA cache (about 500 bytes per cached UA: 4.9 MB at the default 10,000)
// and its IP sets.
//
// Every type here is safe for concurrent use; times passed in are event times, which must
// come from the servers' clocks (a far-future time would make the windows jump and forget).
package fraud
