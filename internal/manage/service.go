// Package manage is the use-case layer of the console and the REST API: accounts and
// sign-in, and the management of advertisers, campaigns, creatives, publishers, sites, zones
// and their links, with reports and the audit log.
//
// Every use case takes the models.Actor making the request and decides here, and only here,
// what that actor may see and change: deny by default, ownership checked at the object (and at
// both ends of a link), a foreign object answered exactly like a missing one (ENOTFOUND), so
// ids cannot be probed. Every change is written together with its audit entry in one
// transaction.
package manage

import (
	"context"
	"encoding/json"
	"time"

	"github.com/sirupsen/logrus"

	"adnet/internal/decision"
	"adnet/internal/fraud"
	"adnet/models"
)

// Store is the storage the use cases need; the MariaDB store implements it (main adapts
// WithTx).
type Store interface {
	// WithTx runs fn with a Store whose reads and writes are one transaction.
	WithTx(ctx context.Context, fn func(Store) error) error

	CreateUser(ctx context.Context, u *models.User) error
	GetUser(ctx context.Context, id int64) (*models.User, error)
	GetUserByEmail(ctx context.Context, email string) (*models.User, error)
	ListUsers(ctx context.Context, f models.UserFilter) ([]models.User, error)
	SetUserPassword(ctx context.Context, id int64, hash string) error
	DeleteUser(ctx context.Context, id int64) error

	CreateSession(ctx context.Context, s *models.Session) error
	GetSession(ctx context.Context, idHash []byte) (*models.Session, error)
	TouchSession(ctx context.Context, idHash []byte, at time.Time) error
	DeleteSession(ctx context.Context, idHash []byte) error
	DeleteUserSessions(ctx context.Context, userID int64) error
	DeleteExpiredSessions(ctx context.Context, now, idleBefore, failuresBefore time.Time) error

	CreateAPIToken(ctx context.Context, t *models.APIToken) error
	GetAPITokenByHash(ctx context.Context, hash []byte) (*models.APIToken, error)
	ListAPITokens(ctx context.Context, userID int64) ([]models.APIToken, error)
	RevokeAPIToken(ctx context.Context, userID, id int64, at time.Time) error
	TouchAPIToken(ctx context.Context, id int64, at time.Time) error

	AddLoginFailure(ctx context.Context, email, ip string, at time.Time) error
	CountLoginFailures(ctx context.Context, email, ip string, since time.Time) (byEmail, byIP int, err error)
	ClearLoginFailures(ctx context.Context, email string) error

	AddAudit(ctx context.Context, e *models.AuditEntry) error
	ListAudit(ctx context.Context, f models.AuditFilter) ([]models.AuditEntry, error)

	CreateAdvertiser(ctx context.Context, a *models.Advertiser) error
	GetAdvertiser(ctx context.Context, id int64) (*models.Advertiser, error)
	ListAdvertisers(ctx context.Context, f models.AdvertiserFilter) ([]models.Advertiser, error)
	UpdateAdvertiser(ctx context.Context, a *models.Advertiser) error

	CreateCampaign(ctx context.Context, c *models.Campaign) error
	GetCampaign(ctx context.Context, id int64) (*models.Campaign, error)
	ListCampaigns(ctx context.Context, f models.CampaignFilter) ([]models.Campaign, error)
	UpdateCampaign(ctx context.Context, c *models.Campaign) error
	SetCampaignApproval(ctx context.Context, id int64, a models.Approval, reason string) error

	CreateCreative(ctx context.Context, c *models.Creative) error
	GetCreative(ctx context.Context, id int64) (*models.Creative, error)
	ListCreatives(ctx context.Context, f models.CreativeFilter) ([]models.Creative, error)
	UpdateCreative(ctx context.Context, c *models.Creative) error
	SetCreativeApproval(ctx context.Context, id int64, a models.Approval, reason string) error

	CreatePublisher(ctx context.Context, p *models.Publisher) error
	GetPublisher(ctx context.Context, id int64) (*models.Publisher, error)
	ListPublishers(ctx context.Context, f models.PublisherFilter) ([]models.Publisher, error)
	UpdatePublisher(ctx context.Context, p *models.Publisher) error

	CreateSite(ctx context.Context, s *models.Site) error
	GetSite(ctx context.Context, id int64) (*models.Site, error)
	ListSites(ctx context.Context, f models.SiteFilter) ([]models.Site, error)
	UpdateSite(ctx context.Context, s *models.Site) error

	CreateZone(ctx context.Context, z *models.Zone) error
	GetZone(ctx context.Context, id int64) (*models.Zone, error)
	ListZones(ctx context.Context, f models.ZoneFilter) ([]models.Zone, error)
	UpdateZone(ctx context.Context, z *models.Zone) error

	LinkZoneCampaign(ctx context.Context, l *models.ZoneCampaign) error
	UnlinkZoneCampaign(ctx context.Context, zoneID, campaignID int64) error
	ListZoneCampaigns(ctx context.Context, f models.ZoneCampaignFilter) ([]models.ZoneCampaign, error)

	Report(ctx context.Context, q models.ReportQuery) (*models.Report, error)

	// Fraud review (fraud.FlagReviewStore) and the hard blocklist.
	ReviewFraudFlag(ctx context.Context, id int64, status string, at time.Time) (*models.FraudFlag, error)
	ListFraudFlags(ctx context.Context, f models.FraudFlagFilter) ([]models.FraudFlag, error)
	GetFraudFlag(ctx context.Context, id int64) (*models.FraudFlag, error)
	WithdrawFraudFlagConfirmation(ctx context.Context, id int64, at time.Time) (*models.FraudFlag, error)
	// RestateFraudFlag writes a restatement run of a confirmed flag (or, reverse, the reversal
	// of its entries) into the adjustment ledger, in one transaction.
	RestateFraudFlag(ctx context.Context, id int64, p models.RestatementPeriod, confirmedBy string, reverse bool) (*models.Restatement, error)
	LoadIPList(ctx context.Context, list string) ([]models.IPRange, error)
	ReplaceIPList(ctx context.Context, list string, ranges []models.IPRange) error
}

// Options configures a Service.
type Options struct {
	Store Store
	// Snapshot returns the decision engine's current inventory snapshot, for the effective
	// share of each campaign in a zone; nil: shares are not shown.
	Snapshot func() *decision.Snapshot
	// Session lifetimes: idle (since the last request) and absolute (since sign-in).
	SessionIdle, SessionMax time.Duration
	// Login throttling: at most MaxFailuresPerAccount failed sign-ins per account and
	// MaxFailuresPerIP per client address within FailureWindow.
	FailureWindow         time.Duration
	MaxFailuresPerAccount int
	MaxFailuresPerIP      int
	// BcryptCost is the cost of new password hashes (0: bcrypt.DefaultCost).
	BcryptCost int
	Location   *time.Location // the network time zone (reports)
	// RestateLookback is how far before a flag's creation its restatement period starts:
	// the anomaly scanner's recent window (0: fraud.DefaultAnomalyRecent).
	RestateLookback time.Duration
	Logger          logrus.FieldLogger
	Now             func() time.Time
}

// Defaults of Options.
const (
	DefaultSessionIdle       = 2 * time.Hour
	DefaultSessionMax        = 12 * time.Hour
	DefaultFailureWindow     = 15 * time.Minute
	DefaultMaxFailuresPerAcc = 5
	DefaultMaxFailuresPerIP  = 50
)

// Service runs the management use cases. It is safe for concurrent use.
type Service struct {
	opt Options
}

// NewService returns a Service for opt, with defaults for its zero fields.
func NewService(opt Options) *Service {
	if opt.SessionIdle <= 0 {
		opt.SessionIdle = DefaultSessionIdle
	}
	if opt.SessionMax <= 0 {
		opt.SessionMax = DefaultSessionMax
	}
	if opt.FailureWindow <= 0 {
		opt.FailureWindow = DefaultFailureWindow
	}
	if opt.MaxFailuresPerAccount <= 0 {
		opt.MaxFailuresPerAccount = DefaultMaxFailuresPerAcc
	}
	if opt.MaxFailuresPerIP <= 0 {
		opt.MaxFailuresPerIP = DefaultMaxFailuresPerIP
	}
	if opt.Location == nil {
		opt.Location = time.UTC
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.RestateLookback <= 0 {
		opt.RestateLookback = fraud.DefaultAnomalyRecent
	}
	if opt.Logger == nil {
		l := logrus.New()
		l.SetOutput(discard{})
		opt.Logger = l
	}
	return &Service{opt: opt}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// Location is the network time zone.
func (s *Service) Location() *time.Location { return s.opt.Location }

// notFound is the answer for a missing object and for one the actor may not see: the same,
// so that ids cannot be probed.
func notFound(kind string, id int64) error {
	return models.Errorf(models.ENOTFOUND, "%s %d not found", kind, id)
}

// hide turns the store's ENOTFOUND into notFound (same wording whoever asks) and passes other
// errors through.
func hide(err error, kind string, id int64) error {
	if models.ErrorCode(err) == models.ENOTFOUND {
		return notFound(kind, id)
	}
	return err
}

// forbidden is the answer to an action the actor's role may never take (as opposed to an
// object it does not own, which is not found).
func forbidden(what string) error {
	return models.Errorf(models.EFORBIDDEN, "Your account may not %s.", what)
}

// change is one audited change: the entity, its id, and its state before and after (nil for
// a creation or a deletion).
type change struct {
	action, entity string
	id             int64
	before, after  any
	none           bool // nothing changed after all (a restatement with nothing to write): no entry
}

// audited runs fn in a transaction and appends the audit entry fn describes in the same
// transaction: there is no change without its entry, and no entry without its change.
func (s *Service) audited(ctx context.Context, a *models.Actor, fn func(tx Store) (change, error)) error {
	return s.opt.Store.WithTx(ctx, func(tx Store) error {
		c, err := fn(tx)
		if err != nil || c.none {
			return err
		}
		e := models.AuditEntry{UserEmail: a.Email, Action: c.action, Entity: c.entity, EntityID: c.id, IP: a.IP,
			Before: auditJSON(c.before), After: auditJSON(c.after)}
		if a.UserID != 0 {
			e.UserID = &a.UserID
		}
		if e.UserEmail == "" {
			e.UserEmail = "(command line)"
		}
		return tx.AddAudit(ctx, &e)
	})
}

// auditJSON is v as the audit log keeps it; secrets are never part of it (their fields are
// not serialised).
func auditJSON(v any) *string {
	if v == nil {
		return nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil
	}
	s := string(b)
	return &s
}

// ListAudit returns audit entries, newest first: admins only.
func (s *Service) ListAudit(ctx context.Context, a *models.Actor, f models.AuditFilter) ([]models.AuditEntry, error) {
	if !a.IsAdmin() {
		return nil, forbidden("read the audit log")
	}
	return s.opt.Store.ListAudit(ctx, f)
}
