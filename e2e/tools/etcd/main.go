// Command etcd is the upstream etcd server entry point, built from its
// published module because the repository root module cannot be installed.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
