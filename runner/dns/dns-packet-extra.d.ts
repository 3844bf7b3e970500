// dns-packet's own type and class tables (not covered by @types/dns-packet).
declare module 'dns-packet/types.js' {
  const types: { toType(name: string): number; toString(code: number): string };
  export default types;
}
declare module 'dns-packet/classes.js' {
  const classes: { toClass(name: string): number; toString(code: number): string };
  export default classes;
}
