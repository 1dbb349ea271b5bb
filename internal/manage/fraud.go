package manage

import (
	"context"
	"errors"
	"net/netip"
	"strings"

	"adnet/internal/fraud"
	"adnet/models"
)

// ListFraudFlags lists the publisher-anomaly monitor's flags: admins only (a publisher is not
// told that it is under review).
func (s *Service) ListFraudFlags(ctx context.Context, a *models.Actor, f models.FraudFlagFilter) ([]models.FraudFlag, error) {
	if !a.IsAdmin() {
		return nil, forbidden("review fraud flags")
	}
	return s.opt.Store.ListFraudFlags(ctx, f)
}

// FlagReview is the outcome of a review: the flag, whether dismissing it resumed its zone, and
// what confirming it restated (nil for a dismissal).
type FlagReview struct {
	Flag        *models.FraudFlag   `json:"flag"`
	ZoneResumed bool                `json:"zone_resumed"`
	Restatement *models.Restatement `json:"restatement,omitempty"`
}

// ReviewFraudFlag confirms or dismisses an open flag (fraud.ReviewFlag: dismissing resumes the
// zone the flag auto-paused): admins only, audited. Confirming also restates the flag's period
// through the adjustment ledger (see RestateFraudFlag), in the same transaction as the
// review and its audit entry: a confirmed flag without its restatement never exists.
func (s *Service) ReviewFraudFlag(ctx context.Context, a *models.Actor, id int64, confirm bool) (*FlagReview, error) {
	if !a.IsAdmin() {
		return nil, forbidden("review fraud flags")
	}
	status := models.FlagDismissed
	if confirm {
		status = models.FlagConfirmed
	}
	out := &FlagReview{}
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		f, r, err := fraud.ReviewFlag(ctx, tx, id, status, s.opt.Now())
		if err != nil {
			return change{}, hide(err, "fraud flag", id)
		}
		out.Flag, out.ZoneResumed = f, r
		if confirm {
			if out.Restatement, err = tx.RestateFraudFlag(ctx, id, s.restatementPeriod(f), actorName(a), false); err != nil {
				return change{}, err
			}
		}
		return change{action: status, entity: "fraud_flag", id: id, after: out}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Blocklist returns the hard blocklist's ranges as text, one CIDR (or first-last range) a
// line: admins only.
func (s *Service) Blocklist(ctx context.Context, a *models.Actor) (string, error) {
	if !a.IsAdmin() {
		return "", forbidden("read the blocklist")
	}
	ranges, err := s.opt.Store.LoadIPList(ctx, models.IPListBlocked)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, r := range ranges {
		if r.First == r.Last {
			b.WriteString(r.First.String())
		} else if p, ok := asPrefix(r); ok {
			b.WriteString(p.String())
		} else {
			b.WriteString(r.First.String() + "-" + r.Last.String())
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// ReplaceBlocklist replaces the hard blocklist with text's entries (fraud.ParseIPSet: IPs,
// CIDRs, ranges, # comments): admins only, audited. Any bad line rejects the whole text, as
// the field's error; workers load the new list within a minute.
func (s *Service) ReplaceBlocklist(ctx context.Context, a *models.Actor, text string) (int, error) {
	if !a.IsAdmin() {
		return 0, forbidden("edit the blocklist")
	}
	set, errs := fraud.ParseIPSet(strings.NewReader(text))
	if len(errs) > 0 {
		return 0, models.Invalid("blocklist", "Nothing saved: %v", errors.Join(errs...))
	}
	ranges := set.IPRanges()
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		return change{action: "replace", entity: "blocklist", after: map[string]int{"ranges": len(ranges)}},
			tx.ReplaceIPList(ctx, models.IPListBlocked, ranges)
	})
	return len(ranges), err
}

// asPrefix returns the CIDR prefix that is exactly the range r, if there is one (ranges are
// stored merged, so a listed /24 comes back as its first and last address).
func asPrefix(r models.IPRange) (netip.Prefix, bool) {
	if r.CIDR != "" {
		if p, err := netip.ParsePrefix(r.CIDR); err == nil {
			return p, true
		}
	}
	for bits := 0; bits <= r.First.BitLen(); bits++ {
		p := netip.PrefixFrom(r.First, bits)
		if p.Masked().Addr() == r.First && models.RangeFromPrefix(p).Last == r.Last {
			return p, true
		}
	}
	return netip.Prefix{}, false
}
