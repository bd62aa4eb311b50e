package intent

import (
	"fmt"
	"strings"
	"unicode"
)

// Limits of a merge intent's free text.
const (
	maxBranch    = 255
	maxCheckName = 255
	maxCheckURL  = 2048
)

// validateMerge checks a KindMerge intent: a repository, the PR or its
// head branch, and a well-formed check when one is named.
func (in Intent) validateMerge() error {
	switch {
	case in.ID == "":
		return fmt.Errorf("intent: missing id")
	case !ValidRepo(in.Repo):
		return fmt.Errorf("intent %s: invalid repo %q", in.ID, in.Repo)
	case in.Source.Issue <= 0 && in.Source.Ref == "":
		return fmt.Errorf("intent %s: a merge names a pull request or a branch", in.ID)
	case in.Source.Ref != "" && !plainText(in.Source.Ref, maxBranch):
		return fmt.Errorf("intent %s: invalid branch %q", in.ID, in.Source.Ref)
	case len(in.Services) != 0 || in.To != "":
		return fmt.Errorf("intent %s: a merge names no service or environment", in.ID)
	}
	if c := in.Check; c != nil {
		switch {
		case !plainText(c.Name, maxCheckName):
			return fmt.Errorf("intent %s: invalid check name %q", in.ID, c.Name)
		case c.State != "success" && c.State != "failure" && c.State != "error" && c.State != "pending":
			return fmt.Errorf("intent %s: invalid check state %q", in.ID, c.State)
		case c.URL != "" && (len(c.URL) > maxCheckURL || !(strings.HasPrefix(c.URL, "https://") || strings.HasPrefix(c.URL, "http://")) || !plainText(c.URL, maxCheckURL)):
			return fmt.Errorf("intent %s: invalid check link", in.ID)
		}
	}
	return nil
}

// plainText: 1 to max bytes, no control characters.
func plainText(s string, max int) bool {
	if s == "" || len(s) > max {
		return false
	}
	for _, r := range s {
		if unicode.IsControl(r) {
			return false
		}
	}
	return true
}
