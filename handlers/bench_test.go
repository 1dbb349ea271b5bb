package handlers

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The hot paths of a worker, without FastCGI: an ad decision rendered as the script tag, and
// the impression beacon. They include the event-log write (a real write(2) to a temp file).
func BenchmarkServeJS(b *testing.B) {
	f := newAdsFixture(&testing.T{})
	benchRequest(b, f, "/serve/js?zone=5")
}

func BenchmarkTrackImpression(b *testing.B) {
	f := newAdsFixture(&testing.T{})
	ad := f.serveJSON()
	benchRequest(b, f, ad.ImpressionURL[strings.Index(ad.ImpressionURL, "/track"):])
}

func benchRequest(b *testing.B, f *adsFixture, target string) {
	benchRequestWith(b, f, httptest.NewRequest("GET", target, nil))
}

func benchRequestWith(b *testing.B, f *adsFixture, r *http.Request) {
	r.RemoteAddr = "203.0.113.7:5555"
	r.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0.0.0 Safari/537.36")
	w := &discardWriter{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		f.mux.ServeHTTP(w, r)
	}
}

type discardWriter struct {
	h    http.Header
	code int
}

func (d *discardWriter) Header() http.Header         { return d.h }
func (d *discardWriter) Write(p []byte) (int, error) { return len(p), nil }
func (d *discardWriter) WriteHeader(c int)           { d.code = c }

func BenchmarkServeJSON(b *testing.B) {
	f := newAdsFixture(&testing.T{})
	benchRequest(b, f, "/serve/json?zone=5&section=sports")
}

func BenchmarkTrackClick(b *testing.B) {
	f := newAdsFixture(&testing.T{})
	ad := f.serveJSON()
	benchRequest(b, f, ad.ClickURL[strings.Index(ad.ClickURL, "/track"):])
}
