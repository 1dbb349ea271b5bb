package fraud

import (
	"context"
	"time"

	"adnet/models"
)

// FlagReviewStore is what ReviewFlag needs from storage; *mysql.Store implements it.
type FlagReviewStore interface {
	ReviewFraudFlag(ctx context.Context, id int64, status string, at time.Time) (*models.FraudFlag, error)
	ListFraudFlags(ctx context.Context, filter models.FraudFlagFilter) ([]models.FraudFlag, error)
	GetZone(ctx context.Context, id int64) (*models.Zone, error)
	UpdateZone(ctx context.Context, z *models.Zone) error
}

// ReviewFlag closes the open flag id as models.FlagConfirmed or models.FlagDismissed. Dismissing
// a false alarm also undoes what auto-pause did because of it: the zone it paused is resumed,
// unless the zone has another open flag (it is still suspect) or is no longer paused (an
// operator has decided about it since). Confirming leaves the zone as it is. resumed reports
// whether the zone was resumed.
func ReviewFlag(ctx context.Context, st FlagReviewStore, id int64, status string, now time.Time) (f *models.FraudFlag, resumed bool, err error) {
	f, err = st.ReviewFraudFlag(ctx, id, status, now)
	if err != nil {
		return nil, false, err
	}
	if status != models.FlagDismissed || f.EntityKind != models.FlagZone || f.PausedAt == nil {
		return f, false, nil
	}
	open, err := st.ListFraudFlags(ctx, models.FraudFlagFilter{Status: models.FlagOpen, EntityKind: models.FlagZone, EntityID: f.EntityID})
	if err != nil {
		return f, false, err
	}
	if len(open) > 0 {
		return f, false, nil
	}
	z, err := st.GetZone(ctx, f.EntityID)
	if models.ErrorCode(err) == models.ENOTFOUND {
		return f, false, nil
	}
	if err != nil {
		return f, false, err
	}
	if z.Status != models.StatusPaused {
		return f, false, nil
	}
	z.Status = models.StatusActive
	if err := st.UpdateZone(ctx, z); err != nil {
		return f, false, err
	}
	return f, true, nil
}
