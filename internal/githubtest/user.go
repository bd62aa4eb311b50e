package githubtest

import (
	"net/http"
	"time"
)

// userCreated is when the test accounts were created.
var userCreated = time.Date(2023, 6, 1, 12, 0, 0, 0, time.UTC)

// privateUser is GitHub's "private-user" schema: GET /user as the
// authenticated user sees itself. Every required field is present; the
// nullable ones are null, as for an account that never filled them in.
type privateUser struct {
	Login                   string  `json:"login"`
	ID                      int64   `json:"id"`
	UserViewType            string  `json:"user_view_type"`
	NodeID                  string  `json:"node_id"`
	AvatarURL               string  `json:"avatar_url"`
	GravatarID              string  `json:"gravatar_id"`
	URL                     string  `json:"url"`
	HTMLURL                 string  `json:"html_url"`
	FollowersURL            string  `json:"followers_url"`
	FollowingURL            string  `json:"following_url"`
	GistsURL                string  `json:"gists_url"`
	StarredURL              string  `json:"starred_url"`
	SubscriptionsURL        string  `json:"subscriptions_url"`
	OrganizationsURL        string  `json:"organizations_url"`
	ReposURL                string  `json:"repos_url"`
	EventsURL               string  `json:"events_url"`
	ReceivedEventsURL       string  `json:"received_events_url"`
	Type                    string  `json:"type"`
	SiteAdmin               bool    `json:"site_admin"`
	Name                    *string `json:"name"`
	Company                 *string `json:"company"`
	Blog                    string  `json:"blog"`
	Location                *string `json:"location"`
	Email                   *string `json:"email"`
	NotificationEmail       *string `json:"notification_email"`
	Hireable                *bool   `json:"hireable"`
	Bio                     *string `json:"bio"`
	TwitterUsername         *string `json:"twitter_username"`
	PublicRepos             int     `json:"public_repos"`
	PublicGists             int     `json:"public_gists"`
	Followers               int     `json:"followers"`
	Following               int     `json:"following"`
	CreatedAt               string  `json:"created_at"`
	UpdatedAt               string  `json:"updated_at"`
	PrivateGists            int     `json:"private_gists"`
	TotalPrivateRepos       int     `json:"total_private_repos"`
	OwnedPrivateRepos       int     `json:"owned_private_repos"`
	DiskUsage               int     `json:"disk_usage"`
	Collaborators           int     `json:"collaborators"`
	TwoFactorAuthentication bool    `json:"two_factor_authentication"`
}

// handleGetUser answers GET /user: the token's own account. An installation
// token is no user, and GitHub refuses it.
func (s *Server) handleGetUser(c *reqCtx) {
	if c.p.kind != authStatic {
		c.error(http.StatusForbidden, "Resource not accessible by integration")
		return
	}
	u := s.user(c.p.login, c.p.userType)
	base := u.GetURL()
	at := userCreated.Format(time.RFC3339)
	c.json(http.StatusOK, &privateUser{
		Login: u.GetLogin(), ID: u.GetID(), UserViewType: "private", NodeID: u.GetNodeID(),
		AvatarURL: u.GetAvatarURL(), URL: base, HTMLURL: u.GetHTMLURL(),
		FollowersURL: base + "/followers", FollowingURL: base + "/following{/other_user}",
		GistsURL: base + "/gists{/gist_id}", StarredURL: base + "/starred{/owner}{/repo}",
		SubscriptionsURL: base + "/subscriptions", OrganizationsURL: base + "/orgs",
		ReposURL: base + "/repos", EventsURL: base + "/events{/privacy}", ReceivedEventsURL: base + "/received_events",
		Type: u.GetType(), CreatedAt: at, UpdatedAt: at, TwoFactorAuthentication: true,
	})
}
