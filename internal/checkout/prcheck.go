package checkout

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-github/v60/github"

	"github.com/promobot/promobot/internal/fate"
	"github.com/promobot/promobot/internal/ghretry"
	"github.com/promobot/promobot/internal/intent"
	"github.com/promobot/promobot/internal/rules"
)

// maxPRFiles is how many changed files of a pull request are looked
// through for the configuration (GitHub lists at most 3000).
const maxPRFiles = 3000

// PRConfigCheck is what CheckPullRequest did.
type PRConfigCheck struct {
	// Skip says why no check run was written (the pull request does not
	// change the configuration).
	Skip       string
	Conclusion string
	Annotated  int
	CheckRun   int64
}

// CheckPullRequest writes the promobot/config check run on the head of the
// pull request in (a KindConfigCheck intent) when it changes the
// repository's configuration file: CheckConfig's verdict on the file at
// the head, against the server's policy, with an annotation per error on
// its line. A check run of that name already on the head is updated, so a
// redelivered event writes no second one.
func (s *Source) CheckPullRequest(ctx context.Context, in intent.Intent) (PRConfigCheck, error) {
	inst, err := s.Clients.For(ctx, in.Repo, in.InstallationID)
	if err != nil {
		return PRConfigCheck{}, err
	}
	gh := inst.Client
	owner, name, _ := strings.Cut(in.Repo, "/")
	path, sha, number := s.configPath(), in.Source.SHA, in.Source.Issue
	status, err := changedStatus(ctx, gh, owner, name, number, path)
	if err != nil {
		return PRConfigCheck{}, err
	}
	if status == "" {
		return PRConfigCheck{Skip: fmt.Sprintf("pull request #%d does not change %s", number, path)}, nil
	}
	server := s.Rules()
	var chk ConfigCheck
	if status == "removed" {
		chk = ConfigCheck{Conclusion: "success", Title: "configuration removed",
			Summary: fmt.Sprintf("`%s` is removed: once merged, the rules file's services decide for %s.\n", path, in.Repo)}
	} else {
		file, _, _, err := gh.Repositories.GetContents(ctx, owner, name, path, &github.RepositoryContentGetOptions{Ref: sha})
		if err != nil {
			return PRConfigCheck{}, ghretry.Fate(fmt.Errorf("read %s@%.7s:%s: %w", in.Repo, sha, path, err), time.Now())
		}
		data, err := file.GetContent()
		if err != nil {
			return PRConfigCheck{}, fate.MarkTerminal(fmt.Errorf("read %s@%.7s:%s: %w", in.Repo, sha, path, err))
		}
		base := ""
		if server != nil {
			base = server.Defaults.BaseBranch
		}
		chk = CheckConfig(server, rules.ConfigSource{Repo: in.Repo, Path: path, Commit: sha, BaseBranch: base}, []byte(data))
	}
	id, err := writeCheckRun(ctx, gh, owner, name, sha, chk)
	if err != nil {
		return PRConfigCheck{}, err
	}
	return PRConfigCheck{Conclusion: chk.Conclusion, Annotated: len(chk.Annotations), CheckRun: id}, nil
}

// changedStatus is the pull request's status of path (added, modified,
// renamed, removed), or "" when it does not change it.
func changedStatus(ctx context.Context, gh *github.Client, owner, name string, number int, path string) (string, error) {
	opts := &github.ListOptions{PerPage: 100}
	for seen := 0; seen < maxPRFiles; {
		files, resp, err := gh.PullRequests.ListFiles(ctx, owner, name, number, opts)
		if err != nil {
			return "", ghretry.Fate(fmt.Errorf("list files of %s/%s#%d: %w", owner, name, number, err), time.Now())
		}
		for _, f := range files {
			switch {
			case f.GetFilename() == path:
				return f.GetStatus(), nil
			case f.GetPreviousFilename() == path:
				return "removed", nil // renamed away
			}
		}
		seen += len(files)
		if resp.NextPage == 0 {
			break
		}
		opts.Page = resp.NextPage
	}
	return "", nil
}

// writeCheckRun creates the completed check run, or updates the one of
// that name already on sha (not at all when it already says the same).
func writeCheckRun(ctx context.Context, gh *github.Client, owner, name, sha string, chk ConfigCheck) (int64, error) {
	out := &github.CheckRunOutput{Title: github.String(chk.Title), Summary: github.String(chk.Summary)}
	for _, a := range chk.Annotations {
		out.Annotations = append(out.Annotations, &github.CheckRunAnnotation{
			Path: github.String(a.Path), StartLine: github.Int(a.StartLine), EndLine: github.Int(a.EndLine),
			AnnotationLevel: github.String(a.Level), Title: github.String(a.Title), Message: github.String(a.Message),
		})
	}
	now := github.Timestamp{Time: time.Now()}
	runs, _, err := gh.Checks.ListCheckRunsForRef(ctx, owner, name, sha, &github.ListCheckRunsOptions{CheckName: github.String(ConfigCheckName)})
	if err != nil {
		return 0, ghretry.Fate(fmt.Errorf("list check runs of %s/%s@%.7s: %w", owner, name, sha, err), time.Now())
	}
	for _, r := range runs.CheckRuns {
		if r.GetName() != ConfigCheckName {
			continue
		}
		if r.GetStatus() == "completed" && r.GetConclusion() == chk.Conclusion && r.GetOutput().GetTitle() == chk.Title {
			return r.GetID(), nil // a redelivery: the verdict is written
		}
		if r.GetOutput().GetAnnotationsCount() > 0 {
			// GitHub appends an update's annotations to the run's own.
			out.Annotations = nil
		}
		_, _, err := gh.Checks.UpdateCheckRun(ctx, owner, name, r.GetID(), github.UpdateCheckRunOptions{
			Name: ConfigCheckName, Status: github.String("completed"), Conclusion: github.String(chk.Conclusion),
			CompletedAt: &now, Output: out,
		})
		if err != nil {
			return 0, ghretry.Fate(fmt.Errorf("update check run %s on %s/%s@%.7s: %w", ConfigCheckName, owner, name, sha, err), time.Now())
		}
		return r.GetID(), nil
	}
	r, _, err := gh.Checks.CreateCheckRun(ctx, owner, name, github.CreateCheckRunOptions{
		Name: ConfigCheckName, HeadSHA: sha, Status: github.String("completed"), Conclusion: github.String(chk.Conclusion),
		CompletedAt: &now, Output: out,
	})
	if err != nil {
		return 0, ghretry.Fate(fmt.Errorf("create check run %s on %s/%s@%.7s: %w", ConfigCheckName, owner, name, sha, err), time.Now())
	}
	return r.GetID(), nil
}
