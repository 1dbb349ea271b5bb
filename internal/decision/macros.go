package decision

import (
	"encoding/hex"
	"strconv"
	"strings"

	"adnet/models"
)

// Macros are the values substituted into an HTML creative.
type Macros struct {
	ClickURL     string // the signed click redirect URL
	ImpURL       string // the signed impression beacon URL
	Cachebuster  uint64 // a random number per decision
	ZoneID       int64
	CampaignID   int64
	CreativeID   int64
	ImpressionID models.ImpressionID // expanded as 32 lower-case hex digits
	Width        int
	Height       int
}

// maxMacroName bounds the scan for a closing brace, so that a stray "{" costs little.
const maxMacroName = len("impression_id")

// ExpandMacros appends tpl to dst with the macros {click_url}, {imp_url}, {cachebuster},
// {zone_id}, {campaign_id}, {creative_id}, {impression_id}, {width} and {height} replaced.
// Values are HTML-escaped for use in attribute values (they land in href and src), so a URL's
// "&" becomes "&amp;", which the browser decodes back. Unknown macros and stray braces are
// copied as they are. It does not allocate when dst has room.
func ExpandMacros(dst []byte, tpl string, m *Macros) []byte {
	for {
		i := strings.IndexByte(tpl, '{')
		if i < 0 {
			return append(dst, tpl...)
		}
		dst = append(dst, tpl[:i]...)
		tpl = tpl[i:]
		j := strings.IndexByte(tpl[1:min(len(tpl), maxMacroName+2)], '}')
		if j < 0 {
			dst = append(dst, '{')
			tpl = tpl[1:]
			continue
		}
		name := tpl[1 : j+1]
		n := len(dst)
		dst = m.appendValue(dst, name)
		if len(dst) == n && !m.known(name) {
			dst = append(dst, '{')
			tpl = tpl[1:]
			continue
		}
		tpl = tpl[j+2:]
	}
}

func (m *Macros) known(name string) bool {
	switch name {
	case "click_url", "imp_url", "cachebuster", "zone_id", "campaign_id", "creative_id", "impression_id", "width", "height":
		return true
	}
	return false
}

// appendValue appends the escaped value of the named macro; nothing for unknown names.
func (m *Macros) appendValue(dst []byte, name string) []byte {
	switch name {
	case "click_url":
		return appendAttrEscaped(dst, m.ClickURL)
	case "imp_url":
		return appendAttrEscaped(dst, m.ImpURL)
	case "cachebuster":
		return strconv.AppendUint(dst, m.Cachebuster, 10)
	case "zone_id":
		return strconv.AppendInt(dst, m.ZoneID, 10)
	case "campaign_id":
		return strconv.AppendInt(dst, m.CampaignID, 10)
	case "creative_id":
		return strconv.AppendInt(dst, m.CreativeID, 10)
	case "impression_id":
		return hex.AppendEncode(dst, m.ImpressionID[:])
	case "width":
		return strconv.AppendInt(dst, int64(m.Width), 10)
	case "height":
		return strconv.AppendInt(dst, int64(m.Height), 10)
	}
	return dst
}

// appendAttrEscaped appends s escaped like html.EscapeString: the five characters that can end
// or break out of a quoted attribute or start markup.
func appendAttrEscaped(dst []byte, s string) []byte {
	start := 0
	for i := 0; i < len(s); i++ {
		var esc string
		switch s[i] {
		case '&':
			esc = "&amp;"
		case '<':
			esc = "&lt;"
		case '>':
			esc = "&gt;"
		case '"':
			esc = "&#34;"
		case '\'':
			esc = "&#39;"
		default:
			continue
		}
		dst = append(dst, s[start:i]...)
		dst = append(dst, esc...)
		start = i + 1
	}
	return append(dst, s[start:]...)
}
