package webhook

import (
	"testing"
	"time"
)

// TestPullRequestBuildsAreNotPromoted: a build of a pull request runs code
// from its head (possibly a fork whose branch is also "main"); its tag must
// never reach an environment.
func TestPullRequestBuildsAreNotPromoted(t *testing.T) {
	rs := loadRules(t)
	base := payload(t, "workflow_run/completed.octokit.json")
	d := Delivery{Event: "workflow_run", ID: "fork-1", Received: time.Unix(0, 0)}
	d.Payload = base
	if ins, err := Classify(rs, d); err != nil || len(ins) == 0 {
		t.Fatalf("the unmodified build must produce intents (the cases below prove nothing otherwise): %v %d", err, len(ins))
	}
	for name, b := range map[string][]byte{
		"pull_request event":        edit(t, base, `"event": "repository_dispatch"`, `"event": "pull_request"`),
		"pull_request_target event": edit(t, base, `"event": "repository_dispatch"`, `"event": "pull_request_target"`),
		"head repository is a fork": forkHead(base),
	} {
		d.Payload = b
		ins, err := Classify(rs, d)
		if err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if len(ins) != 0 {
			t.Errorf("%s: %d intents, want none", name, len(ins))
		}
	}
}

// forkHead renames the head repository of a workflow_run payload.
func forkHead(b []byte) []byte {
	return replaceAfter(b, `"head_repository": {`, `"full_name": "octo-org/octo-repo"`, `"full_name": "mallory/octo-repo"`)
}
