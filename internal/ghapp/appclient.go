package ghapp

import "github.com/google/go-github/v60/github"

// AppClient is a client authenticated as the App itself (its JWT), for the
// endpoints about the App rather than an installation (GET /app, the App
// webhook's deliveries under /app/hook). Its calls go through the same
// retrying, counting transport as every other GitHub call. nil with a token.
func (c *Clients) AppClient() *github.Client { return c.apps }

// TokenClient is the client of the configured token (token mode); nil for an
// App.
func (c *Clients) TokenClient() *github.Client {
	if c.token == nil {
		return nil
	}
	return c.token.Client
}
