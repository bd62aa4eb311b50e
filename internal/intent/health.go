package intent

import (
	"fmt"
	"strings"
)

// HealthService is the service token of health intents' subjects: they
// are about one check of a repository, not a service.
const HealthService = "_health"

// healthTarget names a health intent's subject: repo/_health/report. No
// lease is taken on it: the record's own revision orders the writes.
func healthTarget(in Intent) Target {
	return Target{Repo: in.Repo, Service: HealthService, Env: "report"}
}

// validateHealth checks a KindHealth intent: a repository, the commit the
// check reported on, and a well-formed check with GitHub's time.
func (in Intent) validateHealth() error {
	switch {
	case in.ID == "":
		return fmt.Errorf("intent: missing id")
	case !ValidRepo(in.Repo):
		return fmt.Errorf("intent %s: invalid repo %q", in.ID, in.Repo)
	case len(in.Services) != 0 || in.To != "" || in.Tag != "":
		return fmt.Errorf("intent %s: a health report names no service, environment or tag", in.ID)
	case !hexSHA.MatchString(in.Source.SHA):
		return fmt.Errorf("intent %s: a health report needs the commit it is about", in.ID)
	case in.Check == nil:
		return fmt.Errorf("intent %s: a health report needs its check", in.ID)
	}
	c := in.Check
	switch {
	case !plainText(c.Name, maxCheckName):
		return fmt.Errorf("intent %s: invalid check name %q", in.ID, c.Name)
	case c.State != "success" && c.State != "failure" && c.State != "error" && c.State != "pending":
		return fmt.Errorf("intent %s: invalid check state %q", in.ID, c.State)
	case c.URL != "" && (!(strings.HasPrefix(c.URL, "https://") || strings.HasPrefix(c.URL, "http://")) || !plainText(c.URL, maxCheckURL)):
		return fmt.Errorf("intent %s: invalid check link", in.ID)
	case c.At.IsZero():
		return fmt.Errorf("intent %s: a health report needs its time", in.ID)
	}
	return nil
}
