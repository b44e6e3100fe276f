"""The seed's user-service in Python, exporting example:users/users@1.0.0.

Users live in the instance's memory (a module-level dict) and persist between
calls for as long as the master keeps the instance.
"""

from typing import List, Optional

from componentize_py_types import Err
from wit_world import exports
from wit_world.exports.users import User, UserPatch

USERS: dict[int, User] = {
    1: User(id=1, name="Alice", email="alice@example.com"),
    2: User(id=2, name="Bob", email="bob@example.com"),
}


class Users(exports.Users):
    def get_user(self, id: int) -> Optional[User]:
        return USERS.get(id)

    def get_all_users(self) -> List[User]:
        return [USERS[k] for k in sorted(USERS)]

    def create_user(self, name: str, email: str) -> User:
        new_id = max(USERS, default=0) + 1
        user = User(id=new_id, name=name, email=email)
        USERS[new_id] = user
        return user

    def update_user(self, id: int, data: UserPatch) -> User:
        user = USERS.get(id)
        if user is None:
            raise Err("User not found")
        if data.name is not None:
            user.name = data.name
        if data.email is not None:
            user.email = data.email
        return user
