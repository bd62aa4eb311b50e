package githubtest

import (
	"net/http"
	"strings"
)

// routes is the REST surface. path is the documented OpenAPI template
// (checked against the embedded spec by tests); pattern is the ServeMux form.
func (s *Server) routes() []route {
	const R = "/repos/{owner}/{repo}"
	rt := func(method, path string, auth authMode, h func(*reqCtx)) route {
		// Multi-segment parameters become ServeMux remainder wildcards.
		pattern := strings.NewReplacer("{ref}", "{ref...}", "{path}", "{path...}", "{basehead}", "{basehead...}").Replace(path)
		for _, suffix := range []string{"/status", "/statuses", "/check-runs", "/check-suites"} {
			if strings.HasSuffix(path, "/commits/{ref}"+suffix) {
				// ServeMux allows "..." only at the end; the handler strips the suffix.
				pattern = strings.TrimSuffix(pattern, suffix)
			}
		}
		return route{method: method, path: path, pattern: pattern, auth: auth, h: h}
	}
	return []route{
		rt("GET", "/app", modeJWT, s.handleGetApp),
		rt("GET", "/user", modeToken, s.handleGetUser),
		rt("GET", "/app/installations/{installation_id}", modeJWT, s.handleGetInstallation),
		rt("POST", "/app/installations/{installation_id}/access_tokens", modeJWT, s.handleAccessToken),
		rt("GET", R+"/installation", modeJWT, s.handleRepoInstallation),
		rt("POST", "/app-manifests/{code}/conversions", modeNone, s.handleManifestConversion),
		rt("GET", "/app/installations", modeJWT, s.handleListInstallations),
		rt("GET", "/installation/repositories", modeToken, s.handleInstallationRepos),

		// Webhook deliveries (deliveries.go): the App's hook, a repository's hooks.
		rt("GET", "/app/hook/deliveries", modeJWT, s.handleListAppDeliveries),
		rt("GET", "/app/hook/deliveries/{delivery_id}", modeJWT, s.handleGetAppDelivery),
		rt("POST", "/app/hook/deliveries/{delivery_id}/attempts", modeJWT, s.handleRedeliverAppDelivery),
		rt("GET", R+"/hooks", modeToken, s.handleListRepoHooks),
		rt("GET", R+"/hooks/{hook_id}/deliveries", modeToken, s.handleListRepoDeliveries),
		rt("GET", R+"/hooks/{hook_id}/deliveries/{delivery_id}", modeToken, s.handleGetRepoDelivery),
		rt("POST", R+"/hooks/{hook_id}/deliveries/{delivery_id}/attempts", modeToken, s.handleRedeliverRepoDelivery),

		rt("GET", R, modeToken, s.handleGetRepo),
		rt("POST", R+"/git/blobs", modeToken, s.handleCreateBlob),
		rt("GET", R+"/git/blobs/{file_sha}", modeToken, s.handleGetBlob),
		rt("POST", R+"/git/trees", modeToken, s.handleCreateTree),
		rt("GET", R+"/git/trees/{tree_sha}", modeToken, s.handleGetTree),
		rt("POST", R+"/git/commits", modeToken, s.handleCreateCommit),
		rt("GET", R+"/git/commits/{commit_sha}", modeToken, s.handleGetCommit),
		rt("GET", R+"/git/ref/{ref}", modeToken, s.handleGetRef),
		rt("GET", R+"/git/matching-refs/{ref}", modeToken, s.handleMatchingRefs),
		rt("POST", R+"/git/refs", modeToken, s.handleCreateRef),
		rt("PATCH", R+"/git/refs/{ref}", modeToken, s.handleUpdateRef),
		rt("DELETE", R+"/git/refs/{ref}", modeToken, s.handleDeleteRef),
		rt("GET", R+"/contents/{path}", modeToken, s.handleGetContents),

		rt("GET", R+"/pulls", modeToken, s.handleListPulls),
		rt("POST", R+"/pulls", modeToken, s.handleCreatePull),
		rt("GET", R+"/pulls/{pull_number}", modeToken, s.handleGetPull),
		rt("PATCH", R+"/pulls/{pull_number}", modeToken, s.handleUpdatePull),
		rt("GET", R+"/pulls/{pull_number}/files", modeToken, s.handlePullFiles),
		rt("PUT", R+"/pulls/{pull_number}/merge", modeToken, s.handleMerge),
		rt("POST", R+"/pulls/{pull_number}/reviews", modeToken, s.handleCreateReview),
		rt("GET", R+"/pulls/{pull_number}/reviews", modeToken, s.handleListReviews),
		rt("PATCH", R, modeToken, s.handleUpdateRepo),
		rt("PUT", R+"/branches/{branch}/protection", modeToken, s.handlePutProtection),
		rt("GET", R+"/branches/{branch}/protection", modeToken, s.handleGetProtection),
		rt("DELETE", R+"/branches/{branch}/protection", modeToken, s.handleDeleteProtection),
		rt("GET", R+"/branches/{branch}/protection/required_status_checks", modeToken, s.handleGetRequiredChecks),
		rt("POST", R+"/pulls/{pull_number}/requested_reviewers", modeToken, s.handleRequestReviewers),
		rt("GET", R+"/pulls/{pull_number}/requested_reviewers", modeToken, s.handleListReviewers),

		rt("GET", R+"/issues", modeToken, s.handleListIssues),
		rt("POST", R+"/issues", modeToken, s.handleCreateIssue),
		rt("GET", R+"/issues/{issue_number}", modeToken, s.handleGetIssue),
		rt("POST", R+"/issues/{issue_number}/labels", modeToken, s.handleAddLabels),
		rt("GET", R+"/issues/{issue_number}/labels", modeToken, s.handleListLabels),
		rt("POST", R+"/issues/{issue_number}/comments", modeToken, s.handleCreateComment),
		rt("GET", R+"/issues/{issue_number}/comments", modeToken, s.handleListComments),
		rt("PATCH", R+"/issues/comments/{comment_id}", modeToken, s.handleUpdateComment),
		rt("POST", R+"/issues/comments/{comment_id}/reactions", modeToken, s.handleCreateReaction),
		rt("GET", R+"/labels", modeToken, s.handleListRepoLabels),
		rt("POST", R+"/labels", modeToken, s.handleCreateLabel),
		rt("GET", R+"/labels/{name}", modeToken, s.handleGetLabel),
		rt("PATCH", R+"/labels/{name}", modeToken, s.handleUpdateLabel),
		rt("DELETE", R+"/labels/{name}", modeToken, s.handleDeleteLabel),

		rt("POST", R+"/statuses/{sha}", modeToken, s.handleCreateStatus),
		rt("GET", R+"/commits/{ref}/status", modeToken, s.handleCombinedStatus),
		rt("GET", R+"/commits/{ref}/statuses", modeToken, s.handleListStatuses),
		rt("GET", R+"/commits/{ref}", modeToken, s.handleGetRepoCommit),
		rt("POST", R+"/check-runs", modeToken, s.handleCreateCheckRun),
		rt("GET", R+"/check-runs/{check_run_id}", modeToken, s.handleGetCheckRun),
		rt("PATCH", R+"/check-runs/{check_run_id}", modeToken, s.handleUpdateCheckRun),
		rt("GET", R+"/check-runs/{check_run_id}/annotations", modeToken, s.handleListAnnotations),
		rt("POST", R+"/check-runs/{check_run_id}/rerequest", modeToken, s.handleRerequestCheckRun),
		rt("GET", R+"/commits/{ref}/check-runs", modeToken, s.handleListCheckRunsForRef),
		rt("GET", R+"/commits/{ref}/check-suites", modeToken, s.handleListSuitesForRef),
		rt("GET", R+"/compare/{basehead}", modeToken, s.handleCompare),
		rt("GET", R+"/collaborators/{username}/permission", modeToken, s.handlePermission),
		rt("GET", "/orgs/{org}/teams/{team_slug}/memberships/{username}", modeToken, s.handleTeamMembership),

		// The signed-in user's installations and repositories (oauth.go).
		rt("GET", "/user/installations", modeToken, s.handleUserInstallations),
		rt("GET", "/user/installations/{installation_id}/repositories", modeToken, s.handleUserInstallationRepos),
	}
}

func (s *Server) handleGetRepo(c *reqCtx) {
	c.json(http.StatusOK, s.repoResponse(c.repo))
}
