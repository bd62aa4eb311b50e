// Package crash kills the real promobot worker binary with SIGKILL at chosen
// points of its work on an intent and checks that a restarted worker finishes
// every intent exactly once: no intent lost, no second PR, no second commit.
// The tests are in crash_test.go; this package has no code of its own.
package crash
