package console

import (
	"net/http"
	"net/url"
	"strings"
	"time"

	"adnet/models"
)

// setCookie sets a console cookie: HttpOnly, path /admin/, Secure when the request came over
// HTTPS (net/http/fcgi sets r.TLS from nginx's HTTPS=on).
func setCookie(w http.ResponseWriter, r *http.Request, name, value string, expires time.Time, same http.SameSite) {
	ck := &http.Cookie{Name: name, Value: value, Path: "/admin/", HttpOnly: true, SameSite: same, Secure: r.TLS != nil}
	if value == "" {
		ck.MaxAge = -1
	} else if !expires.IsZero() {
		ck.Expires = expires
	}
	http.SetCookie(w, ck)
}

// loginForm shows the sign-in form with a fresh anti-CSRF token in a cookie and in the form:
// a login CSRF (signing a victim into the attacker's account) needs both, and a foreign page
// can set neither.
func (c *Console) loginForm(w http.ResponseWriter, r *http.Request) {
	c.renderLogin(w, r, http.StatusOK, url.Values{"next": {r.URL.Query().Get("next")}}, nil)
}

func (c *Console) renderLogin(w http.ResponseWriter, r *http.Request, status int, v url.Values, err error) {
	tok := randomToken()
	setCookie(w, r, loginCookie, tok, time.Now().Add(time.Hour), http.SameSiteStrictMode)
	v.Set("login_token", tok)
	v.Del("password")
	vw := &view{Title: "Sign in", Form: newForm(v, err), Notice: notice(r)}
	if err != nil {
		vw.Error = models.ErrorMessage(err)
	}
	c.render(w, r, nil, status, "login", vw)
}

// login is POST /admin/login: checks the form's token against the cookie's and the browser's
// Sec-Fetch-Site, then manage.Login (throttled; the same answer for an unknown email and a
// wrong password). A success rotates to a new session cookie.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	ck, _ := r.Cookie(loginCookie)
	site := r.Header.Get("Sec-Fetch-Site")
	if ck == nil || ck.Value == "" || ck.Value != r.PostFormValue("login_token") || site == "cross-site" || site == "same-site" {
		c.renderLogin(w, r, http.StatusForbidden, url.Values{"email": {r.PostFormValue("email")}},
			models.Errorf(models.EFORBIDDEN, "The sign-in form has expired; please try again."))
		return
	}
	email := r.PostFormValue("email")
	in, err := c.opt.Manage.Login(ctx(r), email, r.PostFormValue("password"), c.clientIP(r))
	if err != nil {
		c.renderLogin(w, r, loginStatus(err), url.Values{"email": {email}, "next": {r.PostFormValue("next")}}, err)
		return
	}
	setCookie(w, r, loginCookie, "", time.Time{}, http.SameSiteStrictMode)
	setCookie(w, r, SessionCookie, in.SessionID, in.ExpiresAt, http.SameSiteLaxMode)
	next := r.PostFormValue("next")
	// Only a path of the console: never an open redirect to another site.
	if !strings.HasPrefix(next, "/admin/") || strings.HasPrefix(next, "//") || strings.Contains(next, "\\") {
		next = "/admin/"
	}
	http.Redirect(w, r, next, http.StatusSeeOther)
}

func loginStatus(err error) int {
	switch models.ErrorCode(err) {
	case models.ETOOMANY:
		return http.StatusTooManyRequests
	case models.EUNAUTHORIZED:
		return http.StatusUnauthorized
	}
	return http.StatusInternalServerError
}

// logout is POST /admin/logout: ends the session on the server and clears the cookie.
func (c *Console) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if err := c.opt.Manage.Logout(ctx(r), s.id); err != nil {
		c.fail(w, r, s, err)
		return
	}
	setCookie(w, r, SessionCookie, "", time.Time{}, http.SameSiteLaxMode)
	redirect(w, r, "/admin/login", "signed-out")
}

// accountData is the My account page: the user, its tokens, a token just created (shown once).
type accountData struct {
	User     *models.User
	Tokens   []models.APIToken
	NewToken string
}

func (c *Console) account(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderAccount(w, r, s, http.StatusOK, "", nil)
}

func (c *Console) renderAccount(w http.ResponseWriter, r *http.Request, s *session, status int, newToken string, formErr error) {
	u, err := c.opt.Manage.GetUser(ctx(r), s.actor, s.actor.UserID)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	toks, err := c.opt.Manage.ListTokens(ctx(r), s.actor)
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	v := &view{Title: "My account", Nav: "account", Notice: notice(r), Form: newForm(nil, formErr),
		D: accountData{User: u, Tokens: toks, NewToken: newToken}}
	if formErr != nil {
		v.Error = models.ErrorMessage(formErr)
	}
	c.render(w, r, s, status, "account", v)
}

func (c *Console) changePassword(w http.ResponseWriter, r *http.Request, s *session) {
	err := c.opt.Manage.ChangePassword(ctx(r), s.actor, r.PostFormValue("current_password"), r.PostFormValue("new_password"))
	if err != nil {
		c.renderAccount(w, r, s, handlersStatus(err), "", err)
		return
	}
	// Every session of the user ended, this one too: sign in with the new password.
	setCookie(w, r, SessionCookie, "", time.Time{}, http.SameSiteLaxMode)
	redirect(w, r, "/admin/login", "password-changed")
}

func (c *Console) createToken(w http.ResponseWriter, r *http.Request, s *session) {
	nt, err := c.opt.Manage.CreateToken(ctx(r), s.actor, r.PostFormValue("name"))
	if err != nil {
		c.renderAccount(w, r, s, handlersStatus(err), "", err)
		return
	}
	// The token is shown in this answer only; it is stored hashed.
	c.renderAccount(w, r, s, http.StatusOK, nt.Token, nil)
}

func (c *Console) revokeToken(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := pathID(r, "id")
	if err == nil {
		err = c.opt.Manage.RevokeToken(ctx(r), s.actor, id)
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	redirect(w, r, "/admin/account", "token-revoked")
}

// usersData is the Users page (admin).
type usersData struct {
	Users   []models.User
	Pager   *pager
	Created string // "email password" of a user just added, shown once
}

func (c *Console) users(w http.ResponseWriter, r *http.Request, s *session) {
	c.renderUsers(w, r, s, http.StatusOK, nil, "", nil)
}

func (c *Console) renderUsers(w http.ResponseWriter, r *http.Request, s *session, status int, v url.Values, created string, formErr error) {
	if !s.actor.IsAdmin() {
		c.fail(w, r, s, models.Errorf(models.ENOTFOUND, "There is no such page."))
		return
	}
	p := newPager(r)
	list, err := c.opt.Manage.ListUsers(ctx(r), s.actor, models.UserFilter{Search: p.Q, Page: p.page()})
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	list = list[:p.trim(len(list))]
	vw := &view{Title: "Users", Nav: "users", Notice: notice(r), Form: newForm(v, formErr), D: usersData{Users: list, Pager: p, Created: created}}
	if formErr != nil {
		vw.Error = models.ErrorMessage(formErr)
	}
	c.render(w, r, s, status, "users", vw)
}

func (c *Console) addUser(w http.ResponseWriter, r *http.Request, s *session) {
	acc, err := formInt(r.PostForm, "account")
	if err == nil {
		res, e := c.opt.Manage.AddUser(ctx(r), s.actor, r.PostFormValue("email"), models.Role(r.PostFormValue("role")), acc)
		if e == nil {
			c.renderUsers(w, r, s, http.StatusOK, nil, res.User.Email+"  "+res.Password, nil)
			return
		}
		err = e
	}
	c.renderUsers(w, r, s, handlersStatus(err), r.PostForm, "", err)
}

func (c *Console) deleteUser(w http.ResponseWriter, r *http.Request, s *session) {
	id, err := pathID(r, "id")
	if err == nil {
		err = c.opt.Manage.DeleteUser(ctx(r), s.actor, id)
	}
	if err != nil {
		c.fail(w, r, s, err)
		return
	}
	redirect(w, r, "/admin/users", "user-deleted")
}

func (c *Console) audit(w http.ResponseWriter, r *http.Request, s *session) {
	p := newPager(r)
	f := models.AuditFilter{Entity: p.Q, Page: p.page()}
	list, err := c.opt.Manage.ListAudit(ctx(r), s.actor, f)
	if err != nil {
		c.fail(w, r, s, hideForbidden(err))
		return
	}
	list = list[:p.trim(len(list))]
	c.render(w, r, s, 0, "audit", &view{Title: "Audit log", Nav: "audit", D: struct {
		Entries []models.AuditEntry
		Pager   *pager
	}{list, p}})
}

// hideForbidden turns a role's EFORBIDDEN on a whole page into the 404 of a page that is not
// there for that role (admin pages do not announce themselves).
func hideForbidden(err error) error {
	if models.ErrorCode(err) == models.EFORBIDDEN {
		return models.Errorf(models.ENOTFOUND, "There is no such page.")
	}
	return err
}
