package githubtest

type autoMerge struct{}

// checksChanged is called when a status or check run on sha changes.
func (s *Server) checksChanged(r *repo, sha string) {}
