package githubtest

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v4"
	"github.com/google/go-github/v60/github"
)

type authKind int

const (
	authJWT authKind = iota + 1
	authInstallation
	authStatic
)

func (k authKind) String() string {
	switch k {
	case authJWT:
		return "app-jwt"
	case authInstallation:
		return "installation"
	case authStatic:
		return "static"
	}
	return ""
}

// authMode says which credentials a route accepts.
type authMode int

const (
	modeToken authMode = iota // installation or static token
	modeJWT                   // App JWT only
	modeNone                  // no credentials needed (the App manifest conversion)
)

// principal is who a request acts as.
type principal struct {
	kind         authKind
	login        string
	userType     string // "User" or "Bot"
	expires      time.Time
	repos        map[string]bool // installation token restricted to these repo names; nil: all
	installation int64           // the installation an installation token belongs to
}

func (p *principal) canAccess(r *repo) bool {
	if p == nil {
		return false
	}
	if p.kind == authInstallation && p.repos != nil {
		return p.repos[r.name]
	}
	return true
}

// GenerateAppKey makes a 2048-bit RSA key pair for a test GitHub App: the
// private key PEM (PKCS#1, as GitHub hands out) and the public key for Config.
func GenerateAppKey() (privatePEM []byte, pub *rsa.PublicKey, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generate rsa key: %w", err)
	}
	privatePEM = pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	return privatePEM, &key.PublicKey, nil
}

// maxJWTLifetime is GitHub's limit on exp - iat for App JWTs.
const maxJWTLifetime = 10 * time.Minute

// authenticate resolves the Authorization header; nil means none or invalid.
func (s *Server) authenticate(r *http.Request) *principal {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok {
		return nil
	}
	tok = strings.TrimSpace(tok)
	switch strings.ToLower(scheme) {
	case "bearer", "token":
	default:
		return nil
	}
	if strings.Count(tok, ".") == 2 {
		return s.verifyJWT(tok)
	}
	return s.lookupToken(tok)
}

func (s *Server) lookupToken(tok string) *principal {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.tokens[tok]
	if p == nil || (!p.expires.IsZero() && time.Now().After(p.expires)) {
		return nil
	}
	return p
}

func (s *Server) verifyJWT(tok string) *principal {
	if p := s.manifests.verify(tok); p != nil {
		return p
	}
	if s.cfg.AppPublicKey == nil || s.cfg.AppID == 0 {
		return nil
	}
	claims := &jwt.RegisteredClaims{}
	parser := &jwt.Parser{ValidMethods: []string{"RS256"}}
	t, err := parser.ParseWithClaims(tok, claims, func(*jwt.Token) (any, error) { return s.cfg.AppPublicKey, nil })
	if err != nil || !t.Valid {
		return nil
	}
	if claims.Issuer != strconv.FormatInt(s.cfg.AppID, 10) || claims.IssuedAt == nil || claims.ExpiresAt == nil {
		return nil
	}
	if claims.ExpiresAt.Sub(claims.IssuedAt.Time) > maxJWTLifetime {
		return nil
	}
	return &principal{kind: authJWT, login: s.slug + "[bot]", userType: "Bot"}
}

// authorize answers 401/403 when the request's credentials do not fit the route.
func (s *Server) authorize(c *reqCtx, rt *route) bool {
	p := c.p
	switch {
	case rt.auth == modeNone:
		return true
	case p == nil:
		c.error(http.StatusUnauthorized, "Bad credentials")
		return false
	case rt.auth == modeJWT && p.kind != authJWT:
		c.error(http.StatusUnauthorized, "A JSON web token could not be decoded")
		return false
	case rt.auth == modeToken && p.kind == authJWT:
		c.error(http.StatusForbidden, "Resource not accessible by integration")
		return false
	}
	return true
}

// gitAuth checks HTTP basic auth for smart HTTP: any user, a valid token as password.
func (s *Server) gitAuth(r *http.Request) *principal {
	_, pass, ok := r.BasicAuth()
	if !ok {
		return nil
	}
	p := s.lookupToken(pass)
	if p == nil {
		return nil
	}
	return p
}

func (s *Server) installation(account string) *github.Installation {
	return &github.Installation{
		ID:                  github.Int64(s.cfg.InstallationID),
		AppID:               github.Int64(s.cfg.AppID),
		AppSlug:             github.String(s.slug),
		TargetType:          github.String("Organization"),
		Account:             s.user(account, "Organization"),
		RepositorySelection: github.String("all"),
		AccessTokensURL:     github.String(fmt.Sprintf("%sapp/installations/%d/access_tokens", s.APIURL(), s.cfg.InstallationID)),
		HTMLURL:             github.String(fmt.Sprintf("%s/organizations/%s/settings/installations/%d", s.URL(), account, s.cfg.InstallationID)),
		Events:              []string{"issue_comment", "pull_request", "push", "workflow_run"},
		Permissions: &github.InstallationPermissions{
			Contents: github.String("write"), PullRequests: github.String("write"),
			Issues: github.String("write"), Statuses: github.String("write"),
			Metadata: github.String("read"), Members: github.String("read"),
		},
	}
}

// installationAccount is the owner shown for the installation: the first repository's owner.
func (s *Server) installationAccount() string {
	for name := range s.repos {
		o, _, _ := strings.Cut(name, "/")
		return o
	}
	return "promobot-test"
}

// appCreated is when the test App was registered.
var appCreated = time.Date(2024, 1, 15, 9, 30, 0, 0, time.UTC)

// handleGetApp answers GET /app (JWT only) with the App, every field
// GitHub's "integration" schema requires included.
func (s *Server) handleGetApp(c *reqCtx) {
	installations := 0
	if s.cfg.InstallationID != 0 {
		installations = 1
	}
	type app struct {
		*github.App
		ClientID string `json:"client_id"`
	}
	c.json(http.StatusOK, app{ClientID: fmt.Sprintf("Iv1.%016x", s.cfg.AppID), App: &github.App{
		ID: github.Int64(s.cfg.AppID), Slug: github.String(s.slug), Name: github.String(s.slug),
		NodeID:      github.String(fmt.Sprintf("A_%d", s.cfg.AppID)),
		Owner:       s.user(s.installationAccount(), "Organization"),
		Description: github.String(""),
		ExternalURL: github.String("https://promobot.example.com"),
		HTMLURL:     github.String(s.URL() + "/apps/" + s.slug),
		CreatedAt:   ts(appCreated), UpdatedAt: ts(appCreated),
		Permissions:        s.installation("").Permissions,
		Events:             s.installation("").Events,
		InstallationsCount: github.Int(installations),
	}})
}

// SetInstallation moves the App to installation id, as uninstalling it and
// installing it again does; 0 leaves it uninstalled. Like GitHub, it
// revokes the old installation's tokens (they answer 401 from now on; its
// token exchange and the repositories' installation answer 404) and sends
// the installation webhook: deleted for the old id, created for the new.
func (s *Server) SetInstallation(id int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	old := s.cfg.InstallationID
	if id == old {
		return
	}
	if old != 0 {
		for tok, p := range s.tokens {
			if p.kind == authInstallation && p.installation == old {
				delete(s.tokens, tok)
			}
		}
		s.installationEvent("deleted")
	}
	s.cfg.InstallationID = id
	if id != 0 {
		s.installationEvent("created")
	}
}

// installationEvent sends the installation webhook for the current
// installation. Its repositories are listed in the short form GitHub uses
// there.
func (s *Server) installationEvent(action string) {
	account := s.installationAccount()
	type shortRepo struct {
		ID       int64  `json:"id"`
		NodeID   string `json:"node_id"`
		Name     string `json:"name"`
		FullName string `json:"full_name"`
		Private  bool   `json:"private"`
	}
	repos := []shortRepo{}
	names := make([]string, 0, len(s.repos))
	for name := range s.repos {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		r := s.repos[name]
		repos = append(repos, shortRepo{ID: r.id, NodeID: fmt.Sprintf("R_%d", r.id), Name: r.name, FullName: r.fullName(), Private: true})
	}
	s.hooks.enqueue("installation", map[string]any{
		"action":       action,
		"installation": s.installation(account),
		"repositories": repos,
		"requester":    nil,
		"sender":       s.user(account+"-admin", "User"),
	})
}

func (s *Server) handleGetInstallation(c *reqCtx) {
	id, err := strconv.ParseInt(c.r.PathValue("installation_id"), 10, 64)
	if err != nil || s.cfg.InstallationID == 0 || id != s.cfg.InstallationID {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	c.json(http.StatusOK, s.installation(s.installationAccount()))
}

func (s *Server) handleRepoInstallation(c *reqCtx) {
	if s.cfg.InstallationID == 0 {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	c.json(http.StatusOK, s.installation(c.repo.owner))
}

func (s *Server) handleAccessToken(c *reqCtx) {
	id, err := strconv.ParseInt(c.r.PathValue("installation_id"), 10, 64)
	if err != nil || s.cfg.InstallationID == 0 || id != s.cfg.InstallationID {
		c.error(http.StatusNotFound, "Not Found")
		return
	}
	var opts github.InstallationTokenOptions
	if len(strings.TrimSpace(string(c.body))) > 0 && !c.decode(&opts) {
		return
	}
	p := &principal{kind: authInstallation, login: s.slug + "[bot]", userType: "Bot", expires: time.Now().Add(time.Hour), installation: id}
	var repos []*github.Repository
	if len(opts.Repositories) > 0 {
		p.repos = map[string]bool{}
		for _, name := range opts.Repositories {
			var found *repo
			for _, r := range s.repos {
				if r.name == name {
					found = r
				}
			}
			if found == nil {
				c.unprocessable("There is at least one repository that does not exist or is not accessible to the parent installation.")
				return
			}
			p.repos[name] = true
			repos = append(repos, s.repoJSON(found))
		}
	}
	var b [20]byte
	_, _ = rand.Read(b[:])
	tok := "ghs_" + strings.TrimRight(base64.RawURLEncoding.EncodeToString(b[:]), "=")
	tok = strings.NewReplacer("-", "A", "_", "B").Replace(tok[4:])
	tok = "ghs_" + tok
	s.tokens[tok] = p
	it := &github.InstallationToken{
		Token:        github.String(tok),
		ExpiresAt:    ts(p.expires),
		Permissions:  s.installation("").Permissions,
		Repositories: repos,
	}
	c.json(http.StatusCreated, it)
}
