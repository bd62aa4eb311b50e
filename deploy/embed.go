package deploy

import _ "embed"

// AppManifest is github-app-manifest.json: the GitHub App promobot needs,
// which `promobot app create` posts to GitHub.
//
//go:embed github-app-manifest.json
var AppManifest []byte
