package evalmix

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"

	"adnet/models"
)

// fakeTokens accepts any token and names its impression after its first byte.
type fakeTokens struct{}

func (fakeTokens) Claims(tok string, _ models.EventType) (Claims, error) {
	if tok == "" {
		return Claims{}, fmt.Errorf("no token")
	}
	return Claims{ImpressionID: models.ImpressionID{tok[0]}, ZoneID: 5}, nil
}
func (fakeTokens) Expired(tok string, _ models.EventType) (string, error) { return tok, nil }

// TestBrowserProxy checks what the Chromium page views rest on: the proxy serves the
// publisher's pages itself, forwards the rest to the ad server from its own source address,
// and records every answered serve, beacon and click with its label — and nothing else.
func TestBrowserProxy(t *testing.T) {
	var remote string
	ads := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		remote, _, _ = net.SplitHostPort(r.RemoteAddr)
		switch r.URL.Path {
		case "/serve/js":
			if r.URL.Query().Get("zone") == "0" {
				io.WriteString(w, "/* adnet: no ad for this zone */")
				return
			}
			io.WriteString(w, "x='/track/imp?t=A';")
		case "/track/imp":
			w.Write([]byte("GIF89a"))
		case "/track/click":
			http.Redirect(w, r, "/landing", http.StatusFound)
		default:
			http.NotFound(w, r)
		}
	}))
	defer ads.Close()
	g, err := New(Options{BaseURL: ads.URL, Tokens: fakeTokens{}, PostbackSecret: func(int64) string { return "" },
		Sites: []Site{{Domain: "a.example"}}, ShadyDomain: "s.example", AttackZones: allZones(), MaxClicksPerIP: 20,
		ClickWindow: 1})
	if err != nil {
		t.Fatal(err)
	}
	src := netip.MustParseAddr("127.12.1.47")
	p, err := g.NewBrowserProxy(src, Automation, models.ReasonAutomation, func(host, path string) (string, bool) {
		return "<p>page " + path + "</p>", host == "pub.example"
	})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()

	get := func(u string) (int, string) {
		t.Helper()
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		host := strings.SplitN(strings.TrimPrefix(u, "http://"), "/", 2)[0]
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: %s\r\nProxy-Connection: keep-alive\r\nConnection: close\r\n\r\n", u, host)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("http://pub.example/article/1"); code != 200 || body != "<p>page /article/1</p>" {
		t.Fatalf("publisher page: %d %q", code, body)
	}
	if code, _ := get("http://other.example/"); code != 404 {
		t.Fatalf("unknown host: %d", code)
	}
	for _, u := range []string{"/serve/js?zone=1", "/serve/js?zone=0", "/track/imp?t=A&cb=1", "/track/click?t=A", "/static/x.png"} {
		get(ads.URL + u)
	}
	if remote != src.String() {
		t.Errorf("the ad server saw %s, want %s", remote, src)
	}
	if s, f, b, c := p.Counts(); s != 2 || f != 1 || b != 1 || c != 1 {
		t.Errorf("counts: serves %d filled %d beacons %d clicks %d", s, f, b, c)
	}
	l := g.ledger
	if l.Answered["serve"] != 2 || l.Unfilled != 1 || l.Answered["impression"] != 1 || l.Answered["click"] != 1 || len(l.Events) != 2 {
		t.Fatalf("ledger: %+v", l)
	}
	for _, e := range l.Events {
		if e.Category != Automation || e.Expect != models.ReasonAutomation || e.ZoneID != 5 || e.ImpressionID != (models.ImpressionID{'A'}) {
			t.Errorf("event: %+v", e)
		}
	}
	if len(l.Failures) != 0 {
		t.Errorf("failures: %v", l.Failures)
	}
}

func allZones() map[Category]int64 {
	m := map[Category]int64{}
	for i, c := range AttackZoneCategories() {
		m[c] = int64(100 + i)
	}
	return m
}
