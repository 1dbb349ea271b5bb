package main

// The load of the chaos scenarios (issue 12, `make chaos` and its short version in `make
// test`): a steady mix of page views through nginx — an ad request, its impression beacon,
// sometimes a click and sometimes a conversion postback sent as a POST — from many goroutines
// with their own loopback addresses. It counts what was answered per event type, every
// failure by status (0 = no answer at all), the failures that happened while a scenario had
// declared a gap (the master or nginx down), and the latency of each 503.

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"adnet/handlers"
)

// Event types of the mix, in the order of the table.
const (
	kindServe = iota
	kindImp
	kindClick
	kindConv
	numKinds
)

var kindNames = [numKinds]string{"serves", "impressions", "clicks", "conversions (POST)"}

// chaosLoad drives the mix and counts its outcomes.
type chaosLoad struct {
	base    string
	secrets map[int64]string // campaign id → its advertiser's postback secret
	gen     *generator       // for its clients (own loopback source addresses)

	gap atomic.Bool // failures now are counted as gap errors

	mu       sync.Mutex
	sent     [numKinds]int64
	answered [numKinds]int64
	failed   [numKinds]int64 // sent and not answered as wanted: may have been recorded
	byStatus map[int]int64   // failures outside gaps, by status (0 = transport error)
	gapErrs  map[int]int64   // failures during gaps, by status
	postErrs map[int]int64   // failed POSTs (all), by status
	lat503   []time.Duration // latency of each 503 answer
	firstErr map[int]string  // one example per status
	total    atomic.Int64    // answered, all kinds: the throughput
	stopped  chan struct{}   // closed by stop; nil when the load is not running
	wg       sync.WaitGroup  // the running goroutines
}

func newChaosLoad(base string, secrets map[int64]string) *chaosLoad {
	l := &chaosLoad{base: base, secrets: secrets}
	l.gen = &generator{base: base, secrets: secrets, tally: newTally()}
	l.reset()
	return l
}

// reset clears the counters (between scenarios; the load must not be running).
func (l *chaosLoad) reset() {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sent, l.answered, l.failed = [numKinds]int64{}, [numKinds]int64{}, [numKinds]int64{}
	l.byStatus, l.gapErrs, l.postErrs, l.firstErr = map[int]int64{}, map[int]int64{}, map[int]int64{}, map[int]string{}
	l.lat503 = nil
	l.total.Store(0)
}

// start runs conc goroutines of page views until stop; clients are numbered from first (each
// has its own source address).
func (l *chaosLoad) start(conc, first int) {
	if l.stopped == nil {
		l.stopped = make(chan struct{})
	}
	stopped := l.stopped
	for w := 0; w < conc; w++ {
		l.wg.Add(1)
		go func(w int) {
			defer l.wg.Done()
			c := l.gen.client(first + w)
			c.Timeout = 60 * time.Second
			rng := rand.New(rand.NewPCG(uint64(w), uint64(time.Now().UnixNano())))
			for {
				select {
				case <-stopped:
					return
				default:
				}
				l.visit(c, rng)
			}
		}(w)
	}
}

func (l *chaosLoad) stop() {
	close(l.stopped)
	l.wg.Wait()
	l.stopped = nil
}

// do sends one request of kind k and reports whether it was answered with want.
func (l *chaosLoad) do(c *http.Client, k int, method, url string, want ...int) (int, []byte, bool) {
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader("source=chaos")
	}
	req, _ := http.NewRequest(method, url, body)
	req.Header.Set("User-Agent", desktopUA)
	if body != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	start := time.Now()
	resp, err := c.Do(req)
	code := 0
	var b []byte
	if err == nil {
		b, err = io.ReadAll(resp.Body)
		resp.Body.Close()
		code = resp.StatusCode
		if err != nil {
			code = 0
		}
	}
	took := time.Since(start)
	ok := err == nil && slices.Contains(want, code)
	l.mu.Lock()
	l.sent[k]++
	if ok {
		l.answered[k]++
	} else {
		l.failed[k]++
		if l.gap.Load() {
			l.gapErrs[code]++
		} else {
			l.byStatus[code]++
			if method == http.MethodPost {
				l.postErrs[code]++
			}
		}
		if code == http.StatusServiceUnavailable {
			l.lat503 = append(l.lat503, took)
		}
		if _, seen := l.firstErr[code]; !seen {
			msg := fmt.Sprintf("%s %s: %d %.120s", method, url, code, b)
			if err != nil {
				msg += " " + err.Error()
			}
			l.firstErr[code] = msg
		}
	}
	l.mu.Unlock()
	if ok {
		l.total.Add(1)
	} else if code == 0 || code >= 500 {
		time.Sleep(5 * time.Millisecond) // no busy loop on refused connections
	}
	return code, b, ok
}

// visit is one page view: an ad request, its beacon, sometimes (1 in 4) a click and then
// sometimes (1 in 3) a conversion postback, as a POST.
func (l *chaosLoad) visit(c *http.Client, rng *rand.Rand) {
	zone := 1 + rng.IntN(5)
	code, body, ok := l.do(c, kindServe, http.MethodGet, fmt.Sprintf("%s/serve/json?zone=%d", l.base, zone), 200, 204)
	if !ok || code == 204 {
		return
	}
	var ad handlers.ServeJSONAd
	if err := json.Unmarshal(body, &ad); err != nil {
		panic(fmt.Sprintf("/serve/json answered 200 with %q: %v", body, err))
	}
	if _, _, ok := l.do(c, kindImp, http.MethodGet, ad.ImpressionURL, 200); !ok {
		return
	}
	if rng.IntN(4) != 0 {
		return
	}
	if _, _, ok := l.do(c, kindClick, http.MethodGet, ad.ClickURL, 302); !ok {
		return
	}
	if rng.IntN(3) != 0 {
		return
	}
	clickID := ad.ClickURL[strings.Index(ad.ClickURL, "t=")+2:]
	l.do(c, kindConv, http.MethodPost, fmt.Sprintf("%s/track/conv?click_id=%s&secret=%s", l.base, clickID, l.secrets[ad.CampaignID]), 200)
}

// rate measures the answered requests per second over d.
func (l *chaosLoad) rate(d time.Duration) float64 {
	before, start := l.total.Load(), time.Now()
	time.Sleep(d)
	return float64(l.total.Load()-before) / time.Since(start).Seconds()
}

// loadFigures is a copy of the counters.
type loadFigures struct {
	sent, answered, failed [numKinds]int64
	byStatus, gapErrs      map[int]int64
	postErrs               map[int]int64
	firstErr               map[int]string
	lat503                 []time.Duration
}

func (l *chaosLoad) figures() loadFigures {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := loadFigures{sent: l.sent, answered: l.answered, failed: l.failed, byStatus: map[int]int64{}, gapErrs: map[int]int64{},
		postErrs: map[int]int64{}, firstErr: map[int]string{}, lat503: slices.Clone(l.lat503)}
	for k, v := range l.byStatus {
		f.byStatus[k] = v
	}
	for k, v := range l.gapErrs {
		f.gapErrs[k] = v
	}
	for k, v := range l.postErrs {
		f.postErrs[k] = v
	}
	for k, v := range l.firstErr {
		f.firstErr[k] = v
	}
	return f
}

func (f loadFigures) requests() (n int64) {
	for _, v := range f.sent {
		n += v
	}
	return n
}

// statusText renders failures by status, e.g. "502×3 503×12", "conn×2" for no answer, "0".
func statusText(m map[int]int64) string {
	var keys []int
	for k, v := range m {
		if v > 0 {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return "0"
	}
	sort.Ints(keys)
	var parts []string
	for _, k := range keys {
		name := fmt.Sprint(k)
		if k == 0 {
			name = "conn"
		}
		parts = append(parts, fmt.Sprintf("%s×%d", name, m[k]))
	}
	return strings.Join(parts, " ")
}

// percentile returns the p-th percentile (0–100) of ds, 0 when empty.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s)-1) * p / 100)
	return s[i]
}
