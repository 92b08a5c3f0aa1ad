package pgfiles

import (
	"os"
	"path"

	"golang.org/x/sys/unix"
)

// SyncFiles makes the files rels (those that exist) and their directories
// durable: one syncfs(2) per file system their directories are on, a
// single cache flush for any number of files, where an fsync per file
// would flush once each.
func (d Dir) SyncFiles(rels []string) error {
	done := map[uint64]bool{}
	for _, rel := range rels {
		dir, err := os.Open(d.abs(path.Dir(rel)))
		if os.IsNotExist(err) {
			continue // the database is gone
		}
		if err != nil {
			return err
		}
		var st unix.Stat_t
		err = unix.Fstat(int(dir.Fd()), &st)
		if err == nil && !done[st.Dev] {
			done[st.Dev] = true
			if err = unix.Syncfs(int(dir.Fd())); err != nil {
				err = &os.PathError{Op: "syncfs", Path: dir.Name(), Err: err}
			}
		}
		if cerr := dir.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}
