package manage

import (
	"context"
	"time"

	"adnet/models"
)

// restatementPeriod is the period a confirmed flag restates: from the start of the hour of the
// scanner's recent window that first raised it (its creation minus RestateLookback) to its
// confirmation. The period is closed at the confirmation, and it is the same for every run of
// the flag: the statistics hours starting in it, as committed when a run reads them.
//
// Events of the period counted after the confirmation (the aggregator's lag of seconds, or an
// event log replayed after an outage) are not restated by the confirmation's run: a later run
// (RestateFraudFlag, a top-up) restates exactly them, and nothing when there are none. Events
// served after the confirmation are outside the period altogether: a zone the flag auto-paused
// stays paused when it is confirmed, and the aggregator marks its events paused_zone from the
// pause on (an active zone is for the operator to pause).
func (s *Service) restatementPeriod(f *models.FraudFlag) models.RestatementPeriod {
	to := s.opt.Now()
	if f.ReviewedAt != nil {
		to = *f.ReviewedAt
	}
	return models.RestatementPeriod{From: f.CreatedAt.Add(-s.opt.RestateLookback).UTC().Truncate(time.Hour), To: to}
}

// actorName is who the ledger says confirmed: the user's e-mail, or the command line.
func actorName(a *models.Actor) string {
	if a.Email == "" {
		return "(command line)"
	}
	return a.Email
}

// RestateFraudFlag runs the restatement of a confirmed flag again (a top-up): it reclassifies
// the events of the flag's period counted since the last run, and writes nothing when there are
// none. Admins only, audited (when it wrote something).
func (s *Service) RestateFraudFlag(ctx context.Context, a *models.Actor, id int64) (*models.Restatement, error) {
	if !a.IsAdmin() {
		return nil, forbidden("restate fraud flags")
	}
	var out *models.Restatement
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		f, err := tx.GetFraudFlag(ctx, id)
		if err != nil {
			return change{}, hide(err, "fraud flag", id)
		}
		if f.Status != models.FlagConfirmed {
			return change{}, models.Errorf(models.ECONFLICT, "Fraud flag %d is %s: only a confirmed flag is restated.", id, f.Status)
		}
		if out, err = tx.RestateFraudFlag(ctx, id, s.restatementPeriod(f), actorName(a), false); err != nil {
			return change{}, err
		}
		return change{action: "restate", entity: "fraud_flag", id: id, after: out, none: out.Entries == 0}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// WithdrawFraudConfirmation un-confirms a confirmed flag (a mistaken confirmation): the flag
// becomes dismissed and the ledger gets the reverse of every entry the flag wrote — appended,
// never deleted — so that the restated figures are the original ones again. The zone stays as
// it is (paused or not): that is the operator's decision. Admins only, audited, one
// transaction.
func (s *Service) WithdrawFraudConfirmation(ctx context.Context, a *models.Actor, id int64) (*FlagReview, error) {
	if !a.IsAdmin() {
		return nil, forbidden("review fraud flags")
	}
	out := &FlagReview{}
	err := s.audited(ctx, a, func(tx Store) (change, error) {
		f, err := tx.WithdrawFraudFlagConfirmation(ctx, id, s.opt.Now())
		if err != nil {
			return change{}, hide(err, "fraud flag", id)
		}
		out.Flag = f
		if out.Restatement, err = tx.RestateFraudFlag(ctx, id, s.restatementPeriod(f), actorName(a), true); err != nil {
			return change{}, err
		}
		return change{action: "unconfirm", entity: "fraud_flag", id: id, after: out}, nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// Statement returns the monthly statement of an account: an advertiser's spend or a
// publisher's earnings in month (YYYY-MM, network time zone), from the restated figures, per
// campaign or zone. An advertiser or publisher user gets its own account's, whatever it asked
// for; an admin names exactly one of advertiserID and publisherID.
func (s *Service) Statement(ctx context.Context, a *models.Actor, month string, advertiserID, publisherID int64) (*models.Statement, error) {
	switch a.Role {
	case models.RoleAdmin:
		if (advertiserID == 0) == (publisherID == 0) {
			return nil, models.Errorf(models.EINVALID, "Statement: name an advertiser or a publisher.")
		}
	case models.RoleAdvertiser:
		if publisherID != 0 {
			return nil, forbidden("read publishers' statements")
		}
		advertiserID = a.AdvertiserID
	case models.RolePublisher:
		if advertiserID != 0 {
			return nil, forbidden("read advertisers' statements")
		}
		publisherID = a.PublisherID
	default:
		return nil, forbidden("read statements")
	}
	loc := s.opt.Location
	start, err := time.ParseInLocation("2006-01", month, loc)
	if err != nil {
		return nil, models.Invalid("month", "Month %q: use YYYY-MM.", month)
	}
	if advertiserID != 0 {
		if _, err := s.GetAdvertiser(ctx, a, advertiserID); err != nil {
			return nil, err
		}
	} else if _, err := s.GetPublisher(ctx, a, publisherID); err != nil {
		return nil, err
	}
	q := models.ReportQuery{From: start, To: start.AddDate(0, 1, 0), AdvertiserID: advertiserID, PublisherID: publisherID, Location: loc}
	st := &models.Statement{Month: start.Format("2006-01"), Timezone: loc.String(), AdvertiserID: advertiserID,
		PublisherID: publisherID, Kind: "spend", Lines: []models.StatementLine{}}
	q.GroupBy = []string{models.GroupCampaign}
	if publisherID != 0 {
		st.Kind = "earnings"
		q.GroupBy = []string{models.GroupZone}
	}
	rep, err := s.opt.Store.Report(ctx, q)
	if err != nil {
		return nil, err
	}
	// The publisher's money is its revenue, the advertiser's its spend; the totals are the
	// report's (stored precision, rounded once), so lines may add up to a few micro-units less.
	money := func(original, restated int64, f *models.ReportMetrics) (int64, int64) {
		if publisherID != 0 {
			return f.PublisherRevenueMicros, f.Restated.PublisherRevenueMicros
		}
		return original, restated
	}
	for i := range rep.Rows {
		r := &rep.Rows[i]
		orig, restated := money(r.SpendMicros, r.Restated.SpendMicros, &r.ReportMetrics)
		if orig == 0 && restated == 0 && r.Impressions == 0 && r.Clicks == 0 && r.Conversions == 0 {
			continue
		}
		st.Lines = append(st.Lines, models.StatementLine{CampaignID: r.CampaignID, ZoneID: r.ZoneID,
			Impressions: r.Restated.Impressions, Clicks: r.Restated.Clicks, Conversions: r.Restated.Conversions,
			OriginalMicros: orig, AdjustmentMicros: restated - orig, AmountMicros: restated})
	}
	st.OriginalMicros, st.AmountMicros = money(rep.Totals.SpendMicros, rep.Totals.Restated.SpendMicros, &rep.Totals)
	st.AdjustmentMicros = st.AmountMicros - st.OriginalMicros
	return st, nil
}
