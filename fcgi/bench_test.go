package fcgi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"testing"
)

// Benchmarks of the whole FastCGI round trip, native engine against net/http/fcgi, over a
// real Unix socket with the client side allocation-free, so that allocs/op is the
// server's: engine, wrapper (cap, counters, deadline) and a handler that allocates
// nothing itself. Run: go test -run '^$' -bench RoundTrip -benchmem ./fcgi/

var (
	gif      = []byte("GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;")
	imageGIF = []string{"image/gif"}
)

// benchHandler answers like a tracking pixel, without allocating.
var benchHandler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	if r.Body != http.NoBody {
		io.Copy(io.Discard, r.Body)
	}
	w.Header()["Content-Type"] = imageGIF
	w.Write(gif)
})

// nginxParams are the params nginx's stock fastcgi_params send for a browser's GET.
func nginxParams(method, uri string) map[string]string {
	p := getParams(uri)
	p["REQUEST_METHOD"] = method
	for k, v := range map[string]string{
		"DOCUMENT_ROOT": "/srv/adnet/static", "DOCUMENT_URI": "/track/imp", "GATEWAY_INTERFACE": "CGI/1.1",
		"SERVER_SOFTWARE": "nginx/1.22.1", "SERVER_ADDR": "127.0.0.1", "REQUEST_SCHEME": "http",
		"SCRIPT_FILENAME": "/srv/adnet/static/track/imp", "CONTENT_TYPE": "", "CONTENT_LENGTH": "",
		"HTTP_USER_AGENT":      "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36",
		"HTTP_ACCEPT":          "image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
		"HTTP_ACCEPT_LANGUAGE": "en-US,en;q=0.9", "HTTP_ACCEPT_ENCODING": "gzip, deflate, br",
		"HTTP_REFERER": "https://publisher.example/article/42", "HTTP_CONNECTION": "keep-alive",
	} {
		p[k] = v
	}
	return p
}

// benchClient sends a pre-encoded request and reads the response into reused buffers.
type benchClient struct {
	conn net.Conn
	br   *bufio.Reader
	req  []byte
	buf  []byte
}

func (c *benchClient) roundTrip() (int, error) {
	if _, err := c.conn.Write(c.req); err != nil {
		return 0, err
	}
	n := 0
	for {
		h, err := c.br.Peek(8)
		if err != nil {
			return 0, err
		}
		typ, clen, plen := h[1], int(binary.BigEndian.Uint16(h[4:])), int(h[6])
		c.br.Discard(8)
		if _, err := io.ReadFull(c.br, c.buf[:clen+plen]); err != nil {
			return 0, err
		}
		if typ == recEndRequest {
			return n, nil
		}
		n += clen
	}
}

func BenchmarkRoundTrip(b *testing.B) {
	for _, e := range engineTable {
		for _, m := range []string{"GET", "POST"} {
			b.Run(e.name+"/"+m, func(b *testing.B) {
				path := filepath.Join(b.TempDir(), "bench.sock")
				ln, err := net.Listen("unix", path)
				if err != nil {
					b.Fatal(err)
				}
				s := NewServer(benchHandler, Options{Engine: e.engine, Endpoints: []string{"/serve/", "/track/"}})
				go s.Serve(ln)
				defer s.Shutdown(context.Background())
				conn, err := net.Dial("unix", path)
				if err != nil {
					b.Fatal(err)
				}
				defer conn.Close()
				var req bytes.Buffer
				var body []byte
				p := nginxParams(m, "/track/imp?t=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8&z=7")
				if m == "POST" {
					body = []byte("tid=0123456789abcdef&amount=12.50&currency=EUR")
					p["CONTENT_LENGTH"] = "47"
					p["CONTENT_TYPE"] = "application/x-www-form-urlencoded"
				}
				appendRequest(&req, 1, flagKeepConn, p, body)
				c := &benchClient{conn: conn, br: bufio.NewReaderSize(conn, 16<<10), req: req.Bytes(), buf: make([]byte, 70000)}
				if _, err := c.roundTrip(); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := c.roundTrip(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// BenchmarkRoundTripParallel: GETs over several kept-alive connections at once, as
// nginx's upstream keepalive pool does (b.RunParallel: GOMAXPROCS × 8 connections).
func BenchmarkRoundTripParallel(b *testing.B) {
	for _, e := range engineTable {
		b.Run(e.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "bench.sock")
			ln, err := net.Listen("unix", path)
			if err != nil {
				b.Fatal(err)
			}
			s := NewServer(benchHandler, Options{Engine: e.engine, MaxChildren: 1000})
			go s.Serve(ln)
			defer s.Shutdown(context.Background())
			var req bytes.Buffer
			appendRequest(&req, 1, flagKeepConn, nginxParams("GET", "/track/imp?t=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8&z=7"), nil)
			b.SetParallelism(8)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				conn, err := net.Dial("unix", path)
				if err != nil {
					b.Error(err)
					return
				}
				defer conn.Close()
				c := &benchClient{conn: conn, br: bufio.NewReaderSize(conn, 16<<10), req: req.Bytes(), buf: make([]byte, 70000)}
				for pb.Next() {
					if _, err := c.roundTrip(); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}

// BenchmarkBuildRequest measures the native engine's http.Request construction alone
// (the part of allocs/op above that is the request itself, not the engine).
func BenchmarkBuildRequest(b *testing.B) {
	raw := encodePairs(nginxParams("GET", "/track/imp?t=AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8&z=7"))
	var ix paramIndex
	var scratch []byte
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_, _, scratch, _ = buildRequest(ctx, raw, &ix, scratch)
	}
}
