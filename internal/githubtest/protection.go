package githubtest

type protection struct{}

// RepoSettings are a repository's merge settings.
type RepoSettings struct{}

func defaultSettings() RepoSettings { return RepoSettings{} }
