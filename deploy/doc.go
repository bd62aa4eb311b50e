// Package deploy holds the container build, the Kubernetes manifests and the
// GitHub App manifest. Its Go code is a test (manifest_test.go) that keeps the
// App's subscribed events and its permissions in step; it has no code of its
// own.
package deploy
