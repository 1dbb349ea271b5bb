package nginx
import ("os";"testing";"time")
func TestZZTry(t *testing.T){
	p := Params{Listen:"127.0.0.1:18080", WorkerSockets: []string{"/run/adnet/w0.sock","/run/adnet/w1.sock"}, RequestTimeout: 10*time.Second, StaticDir:"/srv/adnet/static", DemoDir:"/srv/adnet/demo/", StatusSocket:"/run/adnet/status.sock", TempDir:"/tmp/ngxtry"}
	f,_ := os.Create("/tmp/ngxtry/site.conf"); if err := RenderSite(f,p); err!=nil {t.Fatal(err)}; f.Close()
	f,_ = os.Create("/tmp/ngxtry/main.conf"); if err := RenderMain(f,p); err!=nil {t.Fatal(err)}; f.Close()
}
