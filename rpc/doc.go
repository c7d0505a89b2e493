// Package rpc will serve the JSON-RPC 2.0 client interface of PROTOCOL.md §14
// (qbind_sendRawTransaction, qbind_getAccount, qbind_getTransaction, …) and
// provide a Go client. It arrives with the RPC issue.
package rpc
