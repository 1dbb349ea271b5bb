package decision

import (
	"strings"

	lru "github.com/hashicorp/golang-lru/v2"
	useragent "github.com/medama-io/go-useragent"
	"github.com/medama-io/go-useragent/agents"

	"adnet/models"
)

// maxCachedUA is the longest User-Agent string that is cached. Real browsers send 100–300
// bytes; longer strings are parsed every time so that junk cannot fill the cache with big keys.
const maxCachedUA = 512

// UAParser maps User-Agent strings to the device, OS and browser names used in targeting. It
// wraps go-useragent's trie parser with a bounded LRU cache, since a few hundred UA strings make
// up most traffic. It is safe for concurrent use.
type UAParser struct {
	p     *useragent.Parser
	cache *lru.Cache[string, UA]
}

// NewUAParser returns a parser caching up to size distinct UA strings.
func NewUAParser(size int) (*UAParser, error) {
	if size < 1 {
		return nil, models.Errorf(models.EINVALID, "user-agent cache size %d: must be at least 1", size)
	}
	c, err := lru.New[string, UA](size)
	if err != nil {
		return nil, err
	}
	return &UAParser{p: useragent.NewParser(), cache: c}, nil
}

// Parse returns the UA for a User-Agent header. Anything not recognised maps to "other"; an
// empty header maps to unknown (0), which no device, OS or browser rule accepts. A cache hit
// does not allocate.
func (p *UAParser) Parse(ua string) UA {
	if ua == "" {
		return UA{}
	}
	if len(ua) > maxCachedUA {
		// Targeting reads the product tokens at the front; parsing a longer string costs time
		// in proportion to it for nothing (and long ones are not cached).
		ua = ua[:maxCachedUA]
	}
	if u, ok := p.cache.Get(ua); ok {
		return u
	}
	a := p.p.Parse(ua)
	u := UA{
		Device:  nameIndex(models.TargetDevices, deviceName(a.Device())),
		OS:      nameIndex(models.TargetOSes, osName(a.OS())),
		Browser: nameIndex(models.TargetBrowsers, browserName(a.Browser())),
	}
	if len(ua) <= maxCachedUA {
		// Clone: the key must not pin the request buffer the header was sliced from.
		p.cache.Add(strings.Clone(ua), u)
	}
	return u
}

// Len returns the number of cached UA strings.
func (p *UAParser) Len() int { return p.cache.Len() }

func deviceName(d agents.Device) string {
	switch d {
	case agents.DeviceDesktop:
		return "desktop"
	case agents.DeviceMobile:
		return "mobile"
	case agents.DeviceTablet:
		return "tablet"
	case agents.DeviceTV:
		return "tv"
	}
	return "other" // bots and unknown devices; filtering bots is the fraud layer's job
}

func osName(o agents.OS) string {
	switch o {
	case agents.OSWindows:
		return "windows"
	case agents.OSMacOS:
		return "macos"
	case agents.OSLinux:
		return "linux"
	case agents.OSAndroid:
		return "android"
	case agents.OSIOS:
		return "ios"
	case agents.OSChromeOS:
		return "chromeos"
	}
	return "other"
}

func browserName(b agents.Browser) string {
	switch b {
	case agents.BrowserChrome:
		return "chrome"
	case agents.BrowserFirefox:
		return "firefox"
	case agents.BrowserSafari:
		return "safari"
	case agents.BrowserEdge:
		return "edge"
	case agents.BrowserOpera, agents.BrowserOperaMini:
		return "opera"
	case agents.BrowserSamsung:
		return "samsung"
	}
	return "other"
}
