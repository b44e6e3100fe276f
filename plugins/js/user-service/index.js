// The seed's user-service in JavaScript, exporting example:users/users@1.0.0.
// Users live in the instance's memory and persist between calls.
// option<T> is `undefined` or the value; result<T, string> returns T or throws
// the error string.

const store = new Map([
  [1, { id: 1, name: "Alice", email: "alice@example.com" }],
  [2, { id: 2, name: "Bob", email: "bob@example.com" }],
]);

export const users = {
  getUser(id) {
    return store.get(id);
  },

  getAllUsers() {
    return [...store.keys()].sort((a, b) => a - b).map((id) => store.get(id));
  },

  createUser(name, email) {
    const id = Math.max(0, ...store.keys()) + 1;
    const user = { id, name, email };
    store.set(id, user);
    return user;
  },

  updateUser(id, data) {
    const user = store.get(id);
    if (user === undefined) {
      throw "User not found";
    }
    if (data.name !== undefined) user.name = data.name;
    if (data.email !== undefined) user.email = data.email;
    return user;
  },
};
