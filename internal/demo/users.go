package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"adnet/internal/manage"
	"adnet/models"
)

// Demo sign-ins: the network's admin, a user of the first demo advertiser and one of the
// first demo publisher.
const (
	AdminEmail      = "admin@demo.adnet.example"
	AdvertiserEmail = "advertiser@demo.adnet.example"
	PublisherEmail  = "publisher@demo.adnet.example"
)

// SeedUsers creates the demo users when the database has none, and writes their sign-ins
// (with the generated passwords) to loginsFile, mode 0600; it returns the file's text, which
// is the one place the passwords are kept. With users present it returns the file as it is.
func SeedUsers(ctx context.Context, svc *manage.Service, loginsFile string) (string, error) {
	cli := manage.CommandLine()
	users, err := svc.ListUsers(ctx, cli, models.UserFilter{Page: models.Page{Limit: 1}})
	if err != nil {
		return "", err
	}
	if len(users) > 0 {
		b, err := os.ReadFile(loginsFile)
		if err != nil {
			return "", nil // users made by hand: nothing to show
		}
		return string(b), nil
	}
	advs, err := svc.ListAdvertisers(ctx, cli, models.AdvertiserFilter{Page: models.Page{Limit: 1}})
	if err != nil {
		return "", err
	}
	pubs, err := svc.ListPublishers(ctx, cli, models.PublisherFilter{Page: models.Page{Limit: 1}})
	if err != nil {
		return "", err
	}
	if len(advs) == 0 || len(pubs) == 0 {
		return "", fmt.Errorf("demo users: seed the demo network first")
	}
	var b strings.Builder
	b.WriteString("# adnet demo sign-ins (console: /admin/); generated once, kept only here\n")
	for _, u := range []struct {
		email   string
		role    models.Role
		account int64
		what    string
	}{
		{AdminEmail, models.RoleAdmin, 0, "the network's admin"},
		{AdvertiserEmail, models.RoleAdvertiser, advs[0].ID, "advertiser " + advs[0].Name},
		{PublisherEmail, models.RolePublisher, pubs[0].ID, "publisher " + pubs[0].Name},
	} {
		nu, err := svc.AddUser(ctx, cli, u.email, u.role, u.account)
		if err != nil {
			return "", fmt.Errorf("demo user %s: %w", u.email, err)
		}
		fmt.Fprintf(&b, "%-32s %-24s %s\n", u.email, nu.Password, u.what)
	}
	if err := os.MkdirAll(filepath.Dir(loginsFile), 0o750); err != nil {
		return "", err
	}
	if err := os.WriteFile(loginsFile, []byte(b.String()), 0o600); err != nil {
		return "", err
	}
	return b.String(), nil
}
