import streamlit as st
st.title("classroom")
