// Package managetest gives tests the management layer over a real, fresh MariaDB database
// (models/mysql/mysqltest) with a small network on both sides of every ownership line: two
// advertisers (A, B), two publishers (P, Q), a user of each and an admin.
//
// A package whose tests use it starts the private MariaDB from its TestMain:
//
//	func TestMain(m *testing.M) { mysqltest.Main(m) }
package managetest

import (
	"context"
	"testing"
	"time"

	"adnet/internal/manage"
	"adnet/models"
	"adnet/models/mysql"
	"adnet/models/mysql/mysqltest"
)

// Store adapts the MariaDB store to the management layer, as adnet's main does.
type Store struct{ *mysql.Store }

// WithTx runs fn in one transaction, with a Store of the layer's own interface.
func (s Store) WithTx(ctx context.Context, fn func(manage.Store) error) error {
	return s.Store.WithTx(ctx, func(tx *mysql.Store) error { return fn(Store{tx}) })
}

// World is the network of a test.
type World struct {
	Store *mysql.Store
	Svc   *manage.Service
	// Accounts: the advertisers' and publishers' ids.
	AdvA, AdvB, PubP, PubQ int64
	// Users by key ("admin", "advA", "advB", "pubP", "pubQ"), with their generated
	// passwords, and the actor each one is.
	Users  map[string]*manage.NewUser
	Actors map[string]*models.Actor
}

// NewWorld creates the network in a fresh database; loc is the network time zone (nil: UTC).
// Passwords are hashed at bcrypt's lowest cost: tests sign in often.
func NewWorld(tb testing.TB, loc *time.Location) *World {
	tb.Helper()
	ctx := context.Background()
	w := &World{Store: mysql.NewStore(mysqltest.MustOpenDB(tb)), Users: map[string]*manage.NewUser{},
		Actors: map[string]*models.Actor{}}
	w.Svc = manage.NewService(manage.Options{Store: Store{w.Store}, Location: loc, BcryptCost: 4})
	cli := manage.CommandLine()
	for _, adv := range []struct {
		name string
		id   *int64
	}{{"Adv A", &w.AdvA}, {"Adv B", &w.AdvB}} {
		a := models.Advertiser{Name: adv.name}
		if err := w.Svc.CreateAdvertiser(ctx, cli, &a); err != nil {
			tb.Fatal(err)
		}
		*adv.id = a.ID
	}
	for _, pub := range []struct {
		name string
		id   *int64
	}{{"Pub P", &w.PubP}, {"Pub Q", &w.PubQ}} {
		p := models.Publisher{Name: pub.name, RevenueShareBP: 7000}
		if err := w.Svc.CreatePublisher(ctx, cli, &p); err != nil {
			tb.Fatal(err)
		}
		*pub.id = p.ID
	}
	for _, u := range []struct {
		key     string
		role    models.Role
		account int64
	}{{"admin", models.RoleAdmin, 0}, {"advA", models.RoleAdvertiser, w.AdvA}, {"advB", models.RoleAdvertiser, w.AdvB},
		{"pubP", models.RolePublisher, w.PubP}, {"pubQ", models.RolePublisher, w.PubQ}} {
		nu, err := w.Svc.AddUser(ctx, cli, u.key+"@example.test", u.role, u.account)
		if err != nil {
			tb.Fatal(err)
		}
		w.Users[u.key] = nu
		a := models.ActorOf(&nu.User)
		w.Actors[u.key] = &a
	}
	return w
}
