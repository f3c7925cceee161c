// asc resolves a package import to <package>/index.ts; the sources live in assembly/.
export * from "./assembly/index";
