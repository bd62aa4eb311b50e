package intent

import (
	"fmt"
	"regexp"
	"strconv"
)

// PolicyService is the service token of policy intents' subjects and
// leases: they are about one pull request, not a service.
const PolicyService = "_policy"

// maxPRNumber bounds a pull request number read from a payload.
const maxPRNumber = 1 << 40

var policySHA = regexp.MustCompile(`^[0-9a-f]{40}$`)

// policyTarget names a policy intent's pull request: repo/_policy/pr-N,
// or a sweep's environment: repo/_policy/from-E.
func policyTarget(in Intent) Target {
	if in.Sweep() {
		return Target{Repo: in.Repo, Service: PolicyService, Env: "from-" + in.From}
	}
	return Target{Repo: in.Repo, Service: PolicyService, Env: "pr-" + strconv.Itoa(in.Source.Issue)}
}

// Sweep reports whether a policy intent asks for the check of every open
// pull request that moves a tag out of environment From (a health check of
// From changed) rather than of one pull request.
func (in Intent) Sweep() bool {
	return in.Kind == KindPolicy && in.Source.Issue == 0 && in.From != ""
}

// PolicyKey is the lease and schedule key of one pull request's policy check.
func PolicyKey(repo string, pr int) string {
	return Target{Repo: repo, Service: PolicyService, Env: "pr-" + strconv.Itoa(pr)}.String()
}

func validatePolicy(in Intent) error {
	switch {
	case in.ID == "":
		return fmt.Errorf("intent: missing id")
	case !ValidRepo(in.Repo):
		return fmt.Errorf("intent %s: invalid repo %q", in.ID, in.Repo)
	case in.Sweep() && !ValidName(in.From):
		return fmt.Errorf("intent %s: invalid environment %q", in.ID, in.From)
	case !in.Sweep() && (in.Source.Issue <= 0 || in.Source.Issue > maxPRNumber):
		return fmt.Errorf("intent %s: a policy check needs a pull request number", in.ID)
	case in.Source.SHA != "" && !policySHA.MatchString(in.Source.SHA):
		return fmt.Errorf("intent %s: invalid head sha %q", in.ID, in.Source.SHA)
	}
	return nil
}
