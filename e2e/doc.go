// Package e2e holds black-box tests over the wire: real servers on
// 127.0.0.1:0, real drivers and client programs, and crash tests that kill a
// real server process. It has no non-test code beyond this comment.
package e2e
