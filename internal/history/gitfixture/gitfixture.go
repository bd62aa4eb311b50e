// Package gitfixture builds real git repositories for tests: files,
// commits with chosen authors and times, promobot-style pull request
// merges. It runs the git command line, so histories are exactly what git
// writes. Test code only.
package gitfixture

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Repo is a repository in a test's temporary directory, on branch main.
type Repo struct {
	t   testing.TB
	Dir string
}

// Who is a commit's author (and committer unless Committer is set).
type Who struct{ Name, Email string }

// New initialises an empty repository.
func New(t testing.TB) *Repo {
	t.Helper()
	r := &Repo{t: t, Dir: t.TempDir()}
	r.Git(time.Time{}, Who{}, "init", "-q", "-b", "main")
	return r
}

// Open is the repository at dir, made by New.
func Open(t testing.TB, dir string) *Repo { return &Repo{t: t, Dir: dir} }

// Git runs git in the repository with author and committer set to who at
// when (zero: a fixed time) and returns its trimmed output.
func (r *Repo) Git(when time.Time, who Who, args ...string) string {
	r.t.Helper()
	if when.IsZero() {
		when = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if who.Name == "" {
		who = Who{"Fixture", "fixture@example.com"}
	}
	cmd := exec.Command("git", args...)
	cmd.Dir = r.Dir
	date := when.Format(time.RFC3339)
	cmd.Env = append(os.Environ(),
		"GIT_AUTHOR_NAME="+who.Name, "GIT_AUTHOR_EMAIL="+who.Email, "GIT_AUTHOR_DATE="+date,
		"GIT_COMMITTER_NAME="+who.Name, "GIT_COMMITTER_EMAIL="+who.Email, "GIT_COMMITTER_DATE="+date,
		"GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_SYSTEM=/dev/null", "HOME="+r.Dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		r.t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// Write writes files (path → content) into the work tree.
func (r *Repo) Write(files map[string]string) {
	r.t.Helper()
	for p, c := range files {
		full := filepath.Join(r.Dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			r.t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			r.t.Fatal(err)
		}
	}
}

// Commit writes files and commits everything on the current branch.
func (r *Repo) Commit(when time.Time, who Who, msg string, files map[string]string) string {
	r.t.Helper()
	r.Write(files)
	r.Git(when, who, "add", "-A")
	r.Git(when, who, "commit", "-q", "--allow-empty", "-m", msg)
	return r.Git(when, who, "rev-parse", "HEAD")
}

// MergePR commits files on branch (from main) with promobot's message msg,
// then merges it into main with GitHub's merge commit message for pull
// request number pr, by merger at when. It returns the merge commit.
func (r *Repo) MergePR(when time.Time, merger Who, pr int, branch, title, msg string, files map[string]string) string {
	r.t.Helper()
	bot := Who{"promobot[bot]", "promobot[bot]@users.noreply.github.com"}
	r.Git(when, bot, "checkout", "-q", "-B", branch, "main")
	r.Commit(when.Add(-time.Minute), bot, msg, files)
	r.Git(when, merger, "checkout", "-q", "main")
	r.Git(when, merger, "merge", "-q", "--no-ff", "-m",
		"Merge pull request #"+itoa(pr)+" from acme/"+branch+"\n\n"+title, branch)
	return r.Git(when, merger, "rev-parse", "HEAD")
}

func itoa(n int) string {
	var b [20]byte
	i := len(b)
	if n == 0 {
		return "0"
	}
	for n > 0 {
		i--
		b[i] = byte('0' + n%10)
		n /= 10
	}
	return string(b[i:])
}
