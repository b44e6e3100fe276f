// The seed's hello-world service in JavaScript, exporting
// example:hello/greeter@1.0.0 (interface functions in camelCase).

/** The current UTC date and time as `YYYY-MM-DD HH:MM:SS` (WASI wall clock). */
function utcNow() {
  return new Date().toISOString().slice(0, 19).replace("T", " ");
}

export const greeter = {
  sayHello() {
    return `Hello, world! ${utcNow()}\n`;
  },

  sayHello2(name) {
    return {
      date: utcNow(),
      name,
      version: "1.0.0",
      description: "Hello, world!",
      author: "ReactPHP X",
      email: "support@reactphp-x.com",
      url: "https://github.com/reactphp-x",
      license: "MIT",
    };
  },
};
