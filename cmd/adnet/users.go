package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"adnet/internal/manage"
	"adnet/models"
	"adnet/models/mysql"
)

// openManage opens the database and the management layer for a command, acting as the
// command line (an operator with shell access). close releases the database.
func openManage(ctx context.Context, path string) (svc *manage.Service, closeDB func(), err error) {
	cfg, err := loadConfig(path)
	if err != nil {
		return nil, nil, err
	}
	db, err := openCurrentDB(ctx, cfg)
	if err != nil {
		return nil, nil, err
	}
	svc = manage.NewService(manage.Options{Store: manageStore{Store: mysql.NewStore(db)}, Location: cfg.Location()})
	return svc, func() { db.Close() }, nil
}

// runUser manages console and API users: `adnet user add --email E --role admin|advertiser|
// publisher [--account ID]` prints a generated password once; `adnet user list`.
func runUser(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "add" && args[0] != "list") {
		return fmt.Errorf("usage: adnet user add --email E --role admin|advertiser|publisher [--account ID] | adnet user list")
	}
	fs, path := flags("user "+args[0], stderr)
	email := fs.String("email", "", "the user's email address (the sign-in name)")
	role := fs.String("role", "", "admin, advertiser or publisher")
	account := fs.Int64("account", 0, "the advertiser or publisher id the user belongs to (not for admins)")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	svc, closeDB, err := openManage(ctx, *path)
	if err != nil {
		return err
	}
	defer closeDB()
	if args[0] == "list" {
		users, err := svc.ListUsers(ctx, manage.CommandLine(), models.UserFilter{Page: models.Page{Limit: 10000}})
		if err != nil {
			return err
		}
		for _, u := range users {
			acct := ""
			if u.AdvertiserID != nil {
				acct = fmt.Sprintf("advertiser %d", *u.AdvertiserID)
			} else if u.PublisherID != nil {
				acct = fmt.Sprintf("publisher %d", *u.PublisherID)
			}
			fmt.Fprintf(stdout, "%d\t%s\t%s\t%s\n", u.ID, u.Email, u.Role, acct)
		}
		return nil
	}
	if *email == "" || *role == "" {
		return fmt.Errorf("--email and --role are required (adnet user add -h)")
	}
	nu, err := svc.AddUser(ctx, manage.CommandLine(), *email, models.Role(strings.ToLower(*role)), *account)
	if err != nil {
		return fmt.Errorf("%s", models.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "user %d %s (%s) created\npassword: %s\n(shown once: give it to the user; they sign in at /admin/)\n",
		nu.User.ID, nu.User.Email, nu.User.Role, nu.Password)
	return nil
}

// runToken creates an API token for a user: `adnet token create --email E [--name N]`.
func runToken(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || args[0] != "create" {
		return fmt.Errorf("usage: adnet token create --email E [--name NAME]")
	}
	fs, path := flags("token create", stderr)
	email := fs.String("email", "", "the user the token acts as")
	name := fs.String("name", "command line", "a name to recognise the token by")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *email == "" {
		return fmt.Errorf("--email is required")
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	svc, closeDB, err := openManage(ctx, *path)
	if err != nil {
		return err
	}
	defer closeDB()
	nt, err := svc.TokenForEmail(ctx, manage.CommandLine(), *email, *name)
	if err != nil {
		return fmt.Errorf("%s", models.ErrorMessage(err))
	}
	fmt.Fprintf(stdout, "%s\n", nt.Token)
	fmt.Fprintf(stderr, "token %d for %s (shown once; send it as Authorization: Bearer <token>)\n", nt.Info.ID, *email)
	return nil
}
