package manage_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"adnet/internal/manage"
	"adnet/internal/manage/managetest"
	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

func TestMain(m *testing.M) { mysqltest.Main(m) }

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func newService(t *testing.T) (*manage.Service, *mysql.Store, *clock) {
	t.Helper()
	st := mysql.NewStore(mysqltest.MustOpenDB(t))
	c := &clock{t: time.Now().UTC().Truncate(time.Second)}
	svc := manage.NewService(manage.Options{Store: managetest.Store{Store: st}, BcryptCost: 4, Now: c.Now,
		SessionIdle: time.Hour, SessionMax: 8 * time.Hour, FailureWindow: 15 * time.Minute, MaxFailuresPerAccount: 5, MaxFailuresPerIP: 20})
	return svc, st, c
}

func TestLoginSessionsAndThrottling(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st, clk := newService(t)
	nu, err := svc.AddUser(ctx, manage.CommandLine(), "ops@example.test", models.RoleAdmin, 0)
	if err != nil {
		t.Fatal(err)
	}
	u, err := st.GetUser(ctx, nu.User.ID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(u.PasswordHash, "$2") || strings.Contains(u.PasswordHash, nu.Password) {
		t.Fatalf("stored password is not a bcrypt hash: %q", u.PasswordHash)
	}

	// Wrong password and unknown account: the same answer.
	_, errPw := svc.Login(ctx, "ops@example.test", "wrong", "192.0.2.1")
	_, errUser := svc.Login(ctx, "nobody@example.test", "wrong", "192.0.2.1")
	if models.ErrorCode(errPw) != models.EUNAUTHORIZED || models.ErrorMessage(errPw) != models.ErrorMessage(errUser) {
		t.Fatalf("wrong password %v / unknown user %v: must be the same EUNAUTHORIZED", errPw, errUser)
	}

	in, err := svc.Login(ctx, "OPS@example.test ", nu.Password, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	if len(in.SessionID) < 40 || len(in.CSRFToken) < 40 {
		t.Fatalf("short session secrets: %q %q", in.SessionID, in.CSRFToken)
	}
	a, csrf, err := svc.SessionActor(ctx, in.SessionID, "192.0.2.1")
	if err != nil || a.UserID != nu.User.ID || csrf != in.CSRFToken || !manage.CheckCSRF(csrf, in.CSRFToken) || manage.CheckCSRF(csrf, "x") {
		t.Fatalf("session: %+v %q %v", a, csrf, err)
	}
	// Idle expiry: active within the idle timeout keeps it; an hour of silence ends it.
	clk.Add(50 * time.Minute)
	if _, _, err := svc.SessionActor(ctx, in.SessionID, ""); err != nil {
		t.Fatalf("session after 50 min: %v", err)
	}
	clk.Add(61 * time.Minute)
	if _, _, err := svc.SessionActor(ctx, in.SessionID, ""); models.ErrorCode(err) != models.EUNAUTHORIZED {
		t.Fatalf("session idle for 61 min: %v, want EUNAUTHORIZED", err)
	}
	// Absolute expiry, however active.
	in, err = svc.Login(ctx, "ops@example.test", nu.Password, "192.0.2.1")
	if err != nil {
		t.Fatal(err)
	}
	for range 9 {
		clk.Add(55 * time.Minute)
		if _, _, err := svc.SessionActor(ctx, in.SessionID, ""); err != nil {
			break
		}
	}
	if _, _, err := svc.SessionActor(ctx, in.SessionID, ""); models.ErrorCode(err) != models.EUNAUTHORIZED {
		t.Fatalf("session older than 8 h: %v", err)
	}
	// Logout.
	in, _ = svc.Login(ctx, "ops@example.test", nu.Password, "192.0.2.1")
	if err := svc.Logout(ctx, in.SessionID); err != nil {
		t.Fatal(err)
	}
	if _, _, err := svc.SessionActor(ctx, in.SessionID, ""); models.ErrorCode(err) != models.EUNAUTHORIZED {
		t.Fatalf("session after logout: %v", err)
	}

	// Throttling per account: after 5 failures even the right password is refused, until
	// the window has passed.
	for range 5 {
		svc.Login(ctx, "ops@example.test", "guess", "198.51.100.7")
	}
	if _, err := svc.Login(ctx, "ops@example.test", nu.Password, "203.0.113.9"); models.ErrorCode(err) != models.ETOOMANY {
		t.Fatalf("6th sign-in: %v, want ETOOMANY", err)
	}
	clk.Add(16 * time.Minute)
	if _, err := svc.Login(ctx, "ops@example.test", nu.Password, "203.0.113.9"); err != nil {
		t.Fatalf("after the window: %v", err)
	}
	// Throttling per address: 20 failures on many accounts from one address.
	for i := range 20 {
		svc.Login(ctx, "user"+string(rune('a'+i))+"@example.test", "guess", "198.51.100.8")
	}
	if _, err := svc.Login(ctx, "ops@example.test", nu.Password, "198.51.100.8"); models.ErrorCode(err) != models.ETOOMANY {
		t.Fatalf("sign-in from a spraying address: %v, want ETOOMANY", err)
	}
}

func TestAPITokens(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, st, _ := newService(t)
	nu, err := svc.AddUser(ctx, manage.CommandLine(), "api@example.test", models.RoleAdmin, 0)
	if err != nil {
		t.Fatal(err)
	}
	nt, err := svc.TokenForEmail(ctx, manage.CommandLine(), "api@example.test", "ci")
	if err != nil {
		t.Fatal(err)
	}
	stored, err := st.GetAPITokenByHash(ctx, nt.Info.Hash)
	if err != nil || strings.Contains(string(stored.Hash), nt.Token) || !strings.HasPrefix(nt.Token, stored.Prefix) {
		t.Fatalf("stored token: %+v %v", stored, err)
	}
	a, err := svc.TokenActor(ctx, nt.Token, "")
	if err != nil || a.UserID != nu.User.ID {
		t.Fatalf("token actor: %+v %v", a, err)
	}
	for _, bad := range []string{"", "adn_", "adn_nope", nt.Token + "x", strings.Repeat("a", 500)} {
		if _, err := svc.TokenActor(ctx, bad, ""); models.ErrorCode(err) != models.EUNAUTHORIZED {
			t.Errorf("token %q: %v", bad, err)
		}
	}
	if err := svc.RevokeToken(ctx, a, nt.Info.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.TokenActor(ctx, nt.Token, ""); models.ErrorCode(err) != models.EUNAUTHORIZED {
		t.Fatalf("revoked token: %v", err)
	}
	// Deleting the user ends its tokens and sessions too.
	other, _ := svc.AddUser(ctx, manage.CommandLine(), "gone@example.test", models.RoleAdmin, 0)
	tok, _ := svc.TokenForEmail(ctx, manage.CommandLine(), "gone@example.test", "x")
	if err := svc.DeleteUser(ctx, a, other.User.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.TokenActor(ctx, tok.Token, ""); models.ErrorCode(err) != models.EUNAUTHORIZED {
		t.Fatalf("token of a deleted user: %v", err)
	}
}

func TestAuditLogRecordsChanges(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	svc, _, _ := newService(t)
	nu, _ := svc.AddUser(ctx, manage.CommandLine(), "root@example.test", models.RoleAdmin, 0)
	admin := models.ActorOf(&nu.User)
	admin.IP = "192.0.2.44"
	adv := models.Advertiser{Name: "Before"}
	if err := svc.CreateAdvertiser(ctx, &admin, &adv); err != nil {
		t.Fatal(err)
	}
	if _, err := svc.UpdateAdvertiser(ctx, &admin, adv.ID, func(a *models.Advertiser) error { a.Name = "After"; return nil }); err != nil {
		t.Fatal(err)
	}
	// A failed change leaves no entry.
	if _, err := svc.UpdateAdvertiser(ctx, &admin, adv.ID, func(a *models.Advertiser) error { a.Name = ""; return nil }); err == nil {
		t.Fatal("empty name accepted")
	}
	log, err := svc.ListAudit(ctx, &admin, models.AuditFilter{Entity: "advertiser", EntityID: adv.ID})
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != 2 || log[0].Action != "update" || log[1].Action != "create" {
		t.Fatalf("audit entries: %+v", log)
	}
	e := log[0]
	if e.UserEmail != "root@example.test" || e.IP != "192.0.2.44" || e.Before == nil || e.After == nil ||
		!strings.Contains(*e.Before, `"Before"`) || !strings.Contains(*e.After, `"After"`) {
		t.Fatalf("update entry: %+v", e)
	}
	if strings.Contains(*e.After, adv.PostbackSecret) {
		t.Fatal("the audit log holds the postback secret")
	}
}
